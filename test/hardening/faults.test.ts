/**
 * Faults, each with other requests running at the same time: malformed, oversized and reset
 * upstream answers, refusals, blackholes, slow trickles both ways, DNS failure and client
 * aborts. Each gives the right error for that request only, every concurrent request to a
 * healthy upstream gets its 200, nothing stays in flight, and no unhandled rejection or
 * uncaught exception reaches the process.
 */
import net from 'node:net';
import { request as httpRequest } from 'node:http';
import t, { type Test } from 'tap';
import { guardProcess } from '../helpers/guard.js';
import { holding, until } from '../helpers/held.js';
import { send, type Reply } from '../helpers/http.js';
import { startSidecar, type TestSidecar } from '../helpers/sidecar.js';
import { closedPort, startUpstream, type TestUpstream } from '../helpers/upstream.js';

const guard = guardProcess();

/** A TCP server that answers each connection's bytes with whatever the test says, raw. */
interface RawUpstream {
  readonly url: string;
  /** Connections accepted / closed (by either side) so far. */
  accepted: number;
  closed: number;
  answer(fn: (socket: net.Socket, request: string, index: number) => void): void;
  close(): Promise<void>;
}

async function startRawUpstream(): Promise<RawUpstream> {
  let fn: (socket: net.Socket, request: string, index: number) => void = (s) => s.destroy();
  const sockets = new Set<net.Socket>();
  const state = { url: '', accepted: 0, closed: 0 } as RawUpstream;
  const server = net.createServer((socket) => {
    state.accepted += 1;
    sockets.add(socket);
    socket.on('error', () => undefined);
    socket.on('close', () => {
      state.closed += 1;
      sockets.delete(socket);
    });
    let index = 0;
    let buffered = '';
    socket.on('data', (chunk: Buffer) => {
      buffered += chunk.toString('latin1');
      // One request per head (these tests send no request bodies to the raw upstream).
      while (buffered.includes('\r\n\r\n')) {
        const end = buffered.indexOf('\r\n\r\n') + 4;
        const head = buffered.slice(0, end);
        buffered = buffered.slice(end);
        fn(socket, head, index++);
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  return Object.assign(state, {
    url: `http://127.0.0.1:${port}`,
    answer(next: typeof fn) {
      fn = next;
    },
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  });
}

let good: TestUpstream;
let raw: RawUpstream;
let hole: RawUpstream;
let slow: TestUpstream;
let proxy: TestSidecar;

t.before(async () => {
  good = await startUpstream();
  raw = await startRawUpstream();
  hole = await startRawUpstream();
  hole.answer(() => undefined); // accepts, reads, never answers
  slow = await startUpstream();
  const dead = await closedPort();
  proxy = await startSidecar(`version: 1
admin: { address: 127.0.0.1:0 }
drainTimeout: 1s
listeners: [ { name: outbound, address: 127.0.0.1:0 } ]
upstreams:
  good: { endpoints: [${good.url}] }
  raw: { endpoints: [${raw.url}], connections: 4 }
  hole: { endpoints: [${hole.url}] }
  slow: { endpoints: [${slow.url}] }
  dead: { endpoints: [http://127.0.0.1:${dead}] }
  dns: { endpoints: [http://nonexistent.invalid:80] }
routes:
  - { name: good, match: { pathPrefix: /good }, upstream: good }
  - { name: raw-retry, match: { pathPrefix: /raw-retry }, upstream: raw, timeout: 2s, retry: { attempts: 2, on: [reset], backoff: { base: 1ms, max: 2ms } } }
  - { name: raw, match: { pathPrefix: /raw }, upstream: raw, timeout: 2s }
  - { name: hole, match: { pathPrefix: /hole }, upstream: hole, timeout: 300ms }
  - { name: slow-upload, match: { pathPrefix: /slow-upload }, upstream: slow, timeout: 1s, idleTimeout: 300ms }
  - { name: slow, match: { pathPrefix: /slow }, upstream: slow, timeout: 1s }
  - { name: dead, match: { pathPrefix: /dead }, upstream: dead }
  - { name: dns, match: { pathPrefix: /dns }, upstream: dns }
`);
});

t.teardown(async () => {
  await proxy.close();
  await Promise.all([good.close(), raw.close(), hole.close(), slow.close()]);
});

/** Runs `fault` while 20 requests go to the healthy upstream; all of those must be 200. */
async function alongside<T>(t: Test, name: string, fault: () => Promise<T>): Promise<T> {
  const healthy = Array.from({ length: 20 }, (_, i) => send(proxy.url(), `/good/${encodeURIComponent(name)}/${i}`));
  const result = await fault();
  const replies = await Promise.all(healthy);
  t.same(
    replies.map((r) => r.status),
    Array(20).fill(200),
    `${name}: the 20 concurrent requests to a healthy upstream all got 200`,
  );
  return result;
}

async function inFlightIsZero(): Promise<void> {
  await until(async () => {
    const status = (await proxy.admin('/status')).json() as {
      listeners: { inFlight: number }[];
      upstreams: { endpoints: { inFlight: number }[] }[];
    };
    return status.listeners.every((l) => l.inFlight === 0) && status.upstreams.every((u) => u.endpoints.every((e) => e.inFlight === 0));
  }, 'no request or try in flight');
}

const MALFORMED: readonly [string, string][] = [
  ['garbage status line', 'HTTP/1.1 abc OK\r\ncontent-length: 0\r\n\r\n'],
  ['not HTTP at all', 'SSH-2.0-OpenSSH_9.0\r\n\r\n'],
  ['Content-Length with Transfer-Encoding', 'HTTP/1.1 200 OK\r\ncontent-length: 5\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n'],
  ['two different Content-Lengths', 'HTTP/1.1 200 OK\r\ncontent-length: 2\r\ncontent-length: 3\r\n\r\nabc'],
  ['invalid Content-Length', 'HTTP/1.1 200 OK\r\ncontent-length: 1x\r\n\r\na'],
  ['NUL in a header value', 'HTTP/1.1 200 OK\r\nx-a: b\u0000c\r\ncontent-length: 0\r\n\r\n'],
  ['obsolete line folding', 'HTTP/1.1 200 OK\r\nx-a: b\r\n c\r\ncontent-length: 0\r\n\r\n'],
  ['oversized header block (100 KiB)', `HTTP/1.1 200 OK\r\nx-big: ${'a'.repeat(100 * 1024)}\r\ncontent-length: 0\r\n\r\n`],
  ['101 Switching Protocols to a plain request', 'HTTP/1.1 101 Switching Protocols\r\nconnection: upgrade\r\nupgrade: websocket\r\n\r\n'],
  ['closed after half a status line', 'HTTP/1.1 2'],
];

t.test('malformed, oversized and truncated upstream answers: 502 for that request only', async (t) => {
  for (const [name, answer] of MALFORMED) {
    raw.answer((socket) => {
      socket.write(answer, 'latin1');
      socket.end();
    });
    const reply = await alongside(t, name, () => send(proxy.url(), '/raw/malformed'));
    t.equal(reply.status, 502, `${name}: 502`);
    t.equal(reply.headers['x-outrider-error'], 'upstream-reset', `${name}: upstream-reset`);
  }
  raw.answer((socket) => socket.write('HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok'));
  t.equal((await send(proxy.url(), '/raw/fine')).status, 200, 'the same upstream answering properly is served again');
  await inFlightIsZero();
});

t.test('upstream resets at every stage', async (t) => {
  raw.answer((socket) => socket.destroy());
  const before = await alongside(t, 'reset before headers', () => send(proxy.url(), '/raw/before'));
  t.equal(before.status, 502, 'before headers: 502');
  t.equal(before.headers['x-outrider-error'], 'upstream-reset');

  raw.answer((socket) => {
    socket.write('HTTP/1.1 200 OK\r\ncontent-length: 100000\r\n\r\n' + 'x'.repeat(1000));
    setTimeout(() => socket.destroy(), 20);
  });
  const mid = await alongside(t, 'reset mid-body', () =>
    send(proxy.url(), '/raw/mid').then(
      (r) => ({ ok: true as const, reply: r }),
      (err: NodeJS.ErrnoException) => ({ ok: false as const, err }),
    ),
  );
  t.notOk(mid.ok, 'mid-body: the client connection is cut (the status was already sent), never a short 200');

  // Keep-alive reuse: the first request on a connection is answered, the next one on the same
  // connection finds it reset (the race every pooled client meets).
  raw.answer((socket, _head, index) => {
    if (index === 0) socket.write('HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: keep-alive\r\n\r\nok');
    else socket.destroy();
  });
  const warm = await send(proxy.url(), '/raw/reuse-1');
  t.equal(warm.status, 200, 'first request on the connection');
  const reused = await alongside(t, 'reset on keep-alive reuse', () => send(proxy.url(), '/raw/reuse-2'));
  t.equal(reused.status, 502, 'without retry the reused-connection reset is a 502 upstream-reset');
  t.equal(reused.headers['x-outrider-error'], 'upstream-reset');

  const warm2 = await send(proxy.url(), '/raw-retry/reuse-1');
  t.equal(warm2.status, 200);
  const retried = await alongside(t, 'reset on keep-alive reuse, retried', () => send(proxy.url(), '/raw-retry/reuse-2'));
  t.equal(retried.status, 200, 'with retry on reset, the next try (a fresh connection) answers');
  t.equal(retried.headers['x-outrider-attempts'], '2');
  await inFlightIsZero();
});

t.test('refusal, blackhole and DNS failure', async (t) => {
  const refused = await alongside(t, 'connection refused', () => send(proxy.url(), '/dead/x'));
  t.equal(refused.status, 502, 'refused: 502');
  t.equal(refused.headers['x-outrider-error'], 'upstream-unreachable');

  const closedBefore = hole.closed;
  const blackholed = await alongside(t, 'blackhole', () => send(proxy.url(), '/hole/x'));
  t.equal(blackholed.status, 504, 'an upstream that accepts and never answers: 504 at the route timeout');
  t.equal(blackholed.headers['x-outrider-error'], 'timeout', 'the route deadline answered (the client would have waited 10 s)');
  await until(() => hole.closed > closedBefore, 'the blackhole connection to be closed by the proxy');
  t.pass('the abandoned upstream connection is closed, not leaked');

  const dns = await alongside(t, 'DNS failure', () => send(proxy.url(), '/dns/x'));
  t.equal(dns.status, 502, 'a name that does not resolve: 502');
  t.equal(dns.headers['x-outrider-error'], 'upstream-unreachable');
  await inFlightIsZero();
});

t.test('slow trickles both ways', async (t) => {
  // A response body in 10 pieces 30 ms apart, well within the 1 s route timeout: all arrives.
  slow.behave((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain' });
    let n = 0;
    const timer = setInterval(() => {
      res.write(`piece-${n}\n`);
      if (++n === 10) {
        clearInterval(timer);
        res.end();
      }
    }, 30);
    res.on('close', () => clearInterval(timer));
  });
  const trickled = await alongside(t, 'slow response body', () => send(proxy.url(), '/slow/ok'));
  t.equal(trickled.status, 200);
  t.equal(trickled.body.split('\n').filter(Boolean).length, 10, 'every piece arrived, in order');

  // The same, but slower than the route timeout: the client is cut at the deadline and the
  // upstream request is aborted. The upstream never ends this response by itself, so a closed,
  // unfinished response (Arrival.aborted) can only be the proxy cutting it.
  slow.behave((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain' });
    const timer = setInterval(() => res.write('.'), 100);
    res.on('close', () => clearInterval(timer));
  });
  const cut = await alongside(t, 'response body past the deadline', () =>
    send(proxy.url(), '/slow/too-slow').then(
      () => 'answered',
      () => 'cut',
    ),
  );
  t.equal(cut, 'cut', 'the client connection is cut at the route timeout');
  await until(() => slow.arrivals.some((a) => a.url === '/slow/too-slow' && a.aborted), 'the upstream to see its request aborted');
  t.pass('the upstream saw its request aborted, not finished');

  // A client that trickles its request body for longer than the route timeout: the body is
  // received in full before anything goes upstream, and the timeout only starts then.
  slow.behave((_req, res, body) => res.end(`got ${body.length}`));
  const arrivedBefore = slow.arrived;
  let arrivedWhileTrickling = 0;
  const trickled15 = await alongside(t, 'slow request body', () =>
    upload('/slow-upload/ok', 15, 100, (sent) => {
      if (sent < 15) arrivedWhileTrickling = Math.max(arrivedWhileTrickling, slow.arrived - arrivedBefore);
    }),
  );
  t.equal(trickled15.status, 200, 'a 1.5 s upload under a 1 s route timeout is answered (the timeout counts from the end of the body)');
  t.equal(trickled15.body, 'got 15', 'with the whole body');
  t.equal(arrivedWhileTrickling, 0, 'the upstream saw nothing while the body trickled in');

  // A client that stops sending its body half-way: idleTimeout answers 408 and nothing went upstream.
  const stalled = await alongside(t, 'stalled request body', () => upload('/slow-upload/stalled', 5, 20, () => undefined, 1000));
  t.equal(stalled.status, 408, 'a body that stalls gets 408 at the idle timeout');
  t.equal(stalled.headers['x-outrider-error'], 'request-timeout');
  // Counted from the first byte of the request at the upstream, not from the end of its body
  // (a request forwarded with a stalled body never ends there, so `requests` would never list it).
  t.same(
    slow.arrivals.filter((a) => a.url.startsWith('/slow-upload/stalled')),
    [],
    'the upstream never saw it, not even its headers',
  );
  await inFlightIsZero();
});

/** POST `pieces` bytes one every `everyMs`, declaring `declared` bytes (more than sent: a stall). */
function upload(path: string, pieces: number, everyMs: number, onPiece: (sent: number) => void, declared = pieces): Promise<Reply> {
  return new Promise<Reply>((resolve, reject) => {
    const req = httpRequest(
      { host: '127.0.0.1', port: new URL(proxy.url()).port, method: 'POST', path, headers: { 'content-length': String(declared) }, agent: false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const body = Buffer.concat(chunks).toString();
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body, json: <T,>() => JSON.parse(body) as T });
          req.destroy();
        });
      },
    );
    req.on('error', reject);
    let sent = 0;
    const timer = setInterval(() => {
      req.write('x');
      onPiece(++sent);
      if (sent === pieces) clearInterval(timer);
    }, everyMs);
    req.on('close', () => clearInterval(timer));
  });
}

t.test('a client that goes away aborts its upstream request; nothing leaks', async (t) => {
  const held = holding();
  slow.behave(held.behaviour);
  const clients = Array.from({ length: 10 }, (_, i) => {
    const req = httpRequest({ host: '127.0.0.1', port: new URL(proxy.url()).port, path: `/slow/abort-${i}`, agent: false });
    req.on('error', () => undefined);
    req.end();
    return req;
  });
  await until(() => held.count === 10, 'ten requests held upstream');
  const replies: Promise<Reply>[] = Array.from({ length: 20 }, (_, i) => send(proxy.url(), `/good/during-aborts/${i}`));
  for (const req of clients) req.destroy();
  await until(() => held.count === 0, 'every upstream request to be closed after its client left');
  t.same(
    (await Promise.all(replies)).map((r) => r.status),
    Array(20).fill(200),
    'the other requests were answered',
  );
  const aborted = slow.arrivals.filter((a) => a.url.startsWith('/slow/abort-'));
  t.equal(aborted.length, 10, 'the ten requests reached the upstream');
  t.ok(
    aborted.every((a) => a.aborted),
    'each was cut at the upstream before it was answered',
  );
  await inFlightIsZero();
  const abortLines = (): Record<string, unknown>[] => proxy.accessLog.lines.filter((l) => String(l.path).startsWith('/slow/abort-'));
  await until(() => abortLines().length >= 10, 'ten access-log lines');
  const log = abortLines();
  t.equal(log.length, 10, 'exactly one access-log line per aborted request');
  t.same(
    log.map((l) => l.status),
    Array(10).fill(499),
    'each logged as 499 client-closed',
  );
});

guard.check(t);
