/**
 * Timeouts that fit streams (traffic.md, Routes): `timeout` counts from the end of the request
 * body, so a 20 s upload under the default 15 s timeout is answered, whether its body is
 * buffered (within replayBodyLimit) or streamed (beyond it); a server-sent-events stream of
 * 20 s on a `timeout: 0s` route is carried whole; a stream that stalls is ended by the route's
 * idleTimeout (a reset, since its headers are out), and an upstream that never answers gets
 * 504 at idleTimeout. The cases run side by side, so the file takes about 20 s.
 */
import { request as httpRequest, type IncomingMessage } from 'node:http';
import t from 'tap';
import { guardProcess } from '../helpers/guard.js';
import { until } from '../helpers/held.js';
import { startSidecar } from '../helpers/sidecar.js';
import { startUpstream } from '../helpers/upstream.js';

const guard = guardProcess();

let stalledUpstreamClosed = false;
const up = await startUpstream((req, res, body) => {
  if (req.url === '/events') {
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    let n = 0;
    const timer = setInterval(() => {
      res.write(`data: ${++n}\n\n`);
      if (n === 20) {
        clearInterval(timer);
        res.end();
      }
    }, 1000);
    res.on('close', () => clearInterval(timer));
  } else if (req.url === '/stalled/events') {
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.write('data: first\n\n');
    res.on('close', () => (stalledUpstreamClosed = true));
  } else if (req.url === '/stalled/silent') {
    // Never answers.
  } else {
    res.end(`got ${body.length} bytes`);
  }
});
const proxy = await startSidecar(`version: 1
admin: { address: 127.0.0.1:0 }
replayBodyLimit: 64KiB
listeners:
  - { name: outbound, address: 127.0.0.1:0 }
upstreams:
  app: { endpoints: [${up.url}] }
routes:
  - { name: events, match: { path: /events }, upstream: app, timeout: 0s }
  - { name: stalled, match: { pathPrefix: /stalled }, upstream: app, timeout: 0s, idleTimeout: 500ms }
  - { name: upload, match: { pathPrefix: /upload }, upstream: app }
`);
const port = proxy.sidecar.listenerPort('outbound');
t.teardown(async () => {
  await proxy.close();
  await up.close();
});

interface Streamed {
  readonly status: number;
  readonly headers: IncomingMessage['headers'];
  readonly chunks: { at: number; text: string }[];
  /** 'end' when the body completed, 'cut' when the connection broke first. */
  readonly how: 'end' | 'cut';
  readonly ms: number;
}

/** A request whose answer is read as it streams; `pieces` body pieces sent `everyMs` apart. */
function stream(path: string, body?: { pieces: number; bytes: number; everyMs: number }): Promise<Streamed> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const headers = body === undefined ? {} : { 'content-length': String(body.pieces * body.bytes) };
    const req = httpRequest({ host: '127.0.0.1', port, path, method: body === undefined ? 'GET' : 'POST', headers, agent: false }, (res) => {
      const chunks: { at: number; text: string }[] = [];
      let how: 'end' | 'cut' = 'cut';
      res.on('data', (c: Buffer) => chunks.push({ at: Date.now() - started, text: c.toString() }));
      res.on('end', () => (how = 'end'));
      res.on('error', () => undefined);
      res.on('close', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, chunks, how, ms: Date.now() - started }));
    });
    req.on('error', reject);
    // A bound, not a synchronisation: a stream the sidecar never ends is cut here and fails below.
    const bound = setTimeout(() => req.destroy(), 30_000);
    req.on('close', () => clearTimeout(bound));
    if (body === undefined) {
      req.end();
      return;
    }
    let sent = 0;
    const timer = setInterval(() => {
      req.write(Buffer.alloc(body.bytes, 0x61));
      if (++sent === body.pieces) {
        clearInterval(timer);
        req.end();
      }
    }, body.everyMs);
    req.on('close', () => clearInterval(timer));
  });
}

t.test('long uploads, a long event stream, a stalled stream and a silent upstream, side by side', async (t) => {
  const [buffered, streamed, events, stalled, silent] = await Promise.all([
    stream('/upload/buffered', { pieces: 20, bytes: 1024, everyMs: 1000 }),
    stream('/upload/streamed', { pieces: 20, bytes: 10 * 1024, everyMs: 1000 }),
    stream('/events'),
    stream('/stalled/events'),
    stream('/stalled/silent'),
  ]);

  t.equal(buffered.status, 200, `a 20 s upload within replayBodyLimit under the 15 s default timeout: 200 (${buffered.ms} ms)`);
  t.equal(buffered.chunks.map((c) => c.text).join(''), 'got 20480 bytes', 'with its whole body');
  t.equal(streamed.status, 200, `a 20 s upload beyond replayBodyLimit (streamed): 200 (${streamed.ms} ms)`);
  t.equal(streamed.chunks.map((c) => c.text).join(''), 'got 204800 bytes', 'with its whole body');

  t.equal(events.status, 200);
  t.equal(events.how, 'end', 'the event stream ended normally');
  const data = events.chunks.map((c) => c.text).join('');
  t.equal((data.match(/^data: /gm) ?? []).length, 20, `all 20 events over ${events.ms} ms on a timeout: 0s route`);
  t.ok(events.ms > 19_000, 'the stream outlived the 15 s default timeout');

  t.equal(stalled.status, 200, 'the stalled stream began');
  t.equal(stalled.how, 'cut', 'and was cut, its headers being out');
  const firstAt = stalled.chunks[0]?.at ?? 0;
  t.ok(stalled.ms - firstAt >= 500, `not before idleTimeout (${stalled.ms - firstAt} ms after the last bytes)`);
  t.ok(stalled.ms < 5_000, 'long before the default timeout');
  await until(() => stalledUpstreamClosed, 'the upstream to see the stalled request closed');

  t.equal(silent.status, 504, 'an upstream that never answers: 504 at idleTimeout');
  t.equal(silent.headers['x-outrider-error'], 'timeout');
  t.match(silent.chunks.map((c) => c.text).join(''), /idleTimeout/, 'the message names idleTimeout');
});

guard.check(t);
