/**
 * Ordinary HTTP/2 behaviour on a listener, with node:http2's client against a real sidecar in
 * this process: streams on one connection are served side by side (multiplexing); a client's
 * RST_STREAM cancels its exchange, upstream included, and leaves its neighbours be; a client
 * that stops reading a large response makes the upstream's writes stall (flow control carried
 * through as backpressure) while other streams on the connection are served; and a drain sends
 * GOAWAY while the streams already open finish.
 */
import { once } from 'node:events';
import { constants, type ClientHttp2Session, type ClientHttp2Stream } from 'node:http2';
import type { ServerResponse } from 'node:http';
import t from 'tap';
import { guardProcess } from '../helpers/guard.js';
import { holding, until } from '../helpers/held.js';
import { h2Get, h2Request, h2Session, http1Get } from '../helpers/h2-client.js';
import { simplePolicy, startSidecar } from '../helpers/sidecar.js';
import { echo, startUpstream } from '../helpers/upstream.js';

const guard = guardProcess();

const MiB = 1024 * 1024;
const PARALLEL = 50;
/** Large enough that no socket buffers on the way could hold it all (loopback's take a few MiB). */
const LARGE = 64 * MiB;

const held = holding();
const together: ServerResponse[] = [];
const large = { written: 0, finished: false, lastWriteAt: 0 };

/** Writes LARGE bytes honouring backpressure, counting what `write` accepted. */
function pumpLarge(res: ServerResponse): void {
  res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(LARGE) });
  const piece = Buffer.alloc(64 * 1024, 0x61);
  const pump = (): void => {
    while (large.written < LARGE) {
      large.written += piece.length;
      large.lastWriteAt = Date.now();
      if (!res.write(piece)) return void res.once('drain', pump);
    }
    res.end();
    large.finished = true;
  };
  pump();
}

const up = await startUpstream((req, res, body) => {
  if (req.url === '/together') {
    // Answers nobody until all PARALLEL requests are here: only concurrent streams get answers.
    together.push(res);
    if (together.length === PARALLEL) for (const r of together.splice(0)) r.end('together');
  } else if (req.url === '/trickle') {
    res.writeHead(200, { 'content-type': 'text/plain' });
    const timer = setInterval(() => res.write('tick\n'), 20);
    res.on('close', () => clearInterval(timer));
  } else if (req.url === '/held') {
    held.behaviour(req, res, body);
  } else if (req.url === '/large') {
    pumpLarge(res);
  } else {
    echo(req, res, body);
  }
});
const proxy = await startSidecar(simplePolicy(up.url));
const url = proxy.url();
t.teardown(async () => {
  await proxy.close();
  await up.close();
});

const arrival = (path: string) => up.arrivals.find((a) => a.url === path);

t.test(`${PARALLEL} streams on one connection are served concurrently`, async (t) => {
  const session = await h2Session(url);
  t.teardown(() => session.close());
  const answers = await Promise.all(Array.from({ length: PARALLEL }, () => h2Request(session, '/together')));
  t.ok(
    answers.every((a) => a.status === 200 && a.body === 'together'),
    `all ${PARALLEL} answered, by an upstream that answers only once all of them are in`,
  );
});

t.test("a client's RST_STREAM cancels its exchange, and only its own", async (t) => {
  const session = await h2Session(url);
  t.teardown(() => {
    session.close();
    held.release(); // should the cancel fail, the upstream must not hold it past this test
  });

  // Before the answer: the request the upstream holds is cancelled.
  const waiting = session.request({ ':path': '/held' });
  waiting.on('error', () => undefined);
  waiting.end();
  await until(() => held.count === 1, 'the upstream to hold the request');
  waiting.close(constants.NGHTTP2_CANCEL);
  await until(() => arrival('/held')?.closed === true, 'the held upstream request to be closed');
  t.ok(arrival('/held')?.aborted, 'reset before the answer: the upstream request is aborted');

  // Mid-response: the upstream's endless body is cut.
  const trickle = session.request({ ':path': '/trickle' });
  trickle.on('error', () => undefined);
  trickle.end();
  await once(trickle, 'data');
  trickle.close(constants.NGHTTP2_CANCEL);
  await until(() => arrival('/trickle')?.closed === true, 'the streaming upstream response to be closed');
  t.ok(arrival('/trickle')?.aborted, 'reset mid-response: the upstream response is aborted');

  await until(() => proxy.accessLog.lines.filter((l) => l.status === 499).length === 2, 'both to be logged');
  const logged = proxy.accessLog.lines.filter((l) => l.path === '/held' || l.path === '/trickle');
  t.same(logged.map((l) => [l.path, l.status, l.errorCode]), [['/held', 499, 'client-closed'], ['/trickle', 499, 'client-closed']], 'logged as 499 client-closed');

  const next = await h2Request(session, '/after-reset');
  t.equal(next.status, 200, 'the next stream on the same connection is served');
});

t.test('a client that stops reading: the upstream stalls, the other streams are served', async (t) => {
  const session = await h2Session(url);
  t.teardown(() => session.close());
  const big: ClientHttp2Stream = session.request({ ':path': '/large' });
  big.end();
  await once(big, 'response');
  // Never read (no 'data' listener): node's client sends no WINDOW_UPDATE, the sidecar's stream
  // window runs out, its buffer for the client fills, and it stops reading from the upstream.
  // Stalling is the absence of progress, so this one wait is on time by nature (bounded).
  await until(() => large.written > 0 && Date.now() - large.lastWriteAt > 300, 'the upstream writes to stall', 10_000);
  t.notOk(large.finished, 'the upstream could not finish');
  t.ok(large.written < LARGE / 4, `the upstream wrote ${(large.written / MiB).toFixed(1)} MiB of ${LARGE / MiB} before it stalled`);

  const other = await h2Request(session, '/beside-large');
  t.equal(other.status, 200, 'another stream on the same connection is served meanwhile');
  t.ok(large.written < LARGE / 4, 'and the stalled one stayed stalled');

  let received = 0;
  big.on('data', (c: Buffer) => (received += c.length));
  await once(big, 'end');
  t.equal(received, LARGE, 'once read, every byte arrives');
});

t.test('the same sidecar still serves both protocols, with nothing in flight', async (t) => {
  t.equal((await h2Get(url, '/still')).status, 200, 'HTTP/2');
  t.equal((await http1Get(url, '/still')).status, 200, 'HTTP/1.1');
  await until(async () => {
    const status = (await proxy.admin('/status')).json() as { listeners: { inFlight: number }[] };
    return status.listeners[0]?.inFlight === 0;
  }, 'nothing in flight');
});

t.test('drain: GOAWAY to the client, and its open stream still completes', async (t) => {
  const drainHeld = holding();
  const drainUp = await startUpstream(drainHeld.behaviour);
  // A drainTimeout far past the waits below, so only the GOAWAY can satisfy them.
  const draining = await startSidecar(simplePolicy(drainUp.url).replace('drainTimeout: 2s', 'drainTimeout: 20s'));
  t.teardown(() => drainUp.close());
  const session: ClientHttp2Session = await h2Session(draining.url());
  t.teardown(() => session.destroy());
  const inFlight = h2Request(session, '/in-flight', {}, 10_000);
  await until(() => drainHeld.count === 1, 'the upstream to hold the request');

  const goaway = new Promise<number | undefined>((resolve) => {
    const timer = setTimeout(() => resolve(undefined), 3_000);
    session.once('goaway', (code: number) => {
      clearTimeout(timer);
      resolve(code);
    });
  });
  const stopped = draining.close();
  t.equal(await goaway, constants.NGHTTP2_NO_ERROR, 'GOAWAY NO_ERROR reaches the client');
  t.throws(() => session.request({ ':path': '/too-late' }), { code: 'ERR_HTTP2_GOAWAY_SESSION' }, 'no new stream after it');

  drainHeld.release();
  const answer = await inFlight;
  t.same([answer.status, answer.body], [200, 'released'], 'the stream open before it completes');
  await stopped;
});

guard.check(t);
