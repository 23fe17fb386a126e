/**
 * Slow and greedy clients: a slowloris header trickle gets 408 and is closed at headersTimeout,
 * a trickled body is cut at requestTimeout, idle keep-alive connections are closed, and a
 * listener holds at most maxConnections connections, closing the rest at accept. The limits
 * are shortened here through Sidecar's listenerLimits; production uses LISTENER_LIMITS.
 */
import net from 'node:net';
import t from 'tap';
import { LISTENER_LIMITS } from '../../src/http/limits.js';
import { guardProcess } from '../helpers/guard.js';
import { until } from '../helpers/held.js';
import { rawExchange, wellFormed } from '../helpers/raw.js';
import { simplePolicy, startSidecar } from '../helpers/sidecar.js';
import { startUpstream } from '../helpers/upstream.js';

const guard = guardProcess();

t.test('the production limits are the documented ones', async (t) => {
  t.same(
    { ...LISTENER_LIMITS },
    {
      maxHeaders: 100,
      maxHeaderBytes: 65536,
      maxUriLength: 8192,
      maxConnections: 16384,
      headersTimeoutMs: 10_000,
      requestTimeoutMs: 300_000,
      keepAliveTimeoutMs: 65_000,
      clientBufferBytes: 262144,
    },
  );
});

t.test('slow clients are cut off', async (t) => {
  const up = await startUpstream();
  const proxy = await startSidecar(simplePolicy(up.url), {
    listenerLimits: { headersTimeoutMs: 400, requestTimeoutMs: 800, keepAliveTimeoutMs: 300 },
  });
  t.teardown(async () => {
    await proxy.close();
    await up.close();
  });
  const port = proxy.sidecar.listenerPort('outbound');

  // Slowloris: a header line every 100 ms, never the blank line that ends them.
  const trickle = ['GET /loris HTTP/1.1\r\nHost: app\r\n', ...Array.from({ length: 40 }, (_, i) => `x-${i}: v\r\n`)];
  const loris = await rawExchange(port, trickle, { pieceDelayMs: 100, timeoutMs: 5000 });
  t.ok(loris.closedByServer, 'the server closed the slowloris connection');
  t.equal(loris.responses[0]?.status, 408, 'with 408');
  t.equal(loris.responses[0]?.headers['x-outrider-error'], 'request-timeout');
  t.ok(loris.ms < 2000, `within headersTimeout and one check interval (${loris.ms} ms)`);

  // A connection that never sends a byte.
  const silent = await rawExchange(port, [], { timeoutMs: 5000 });
  t.ok(silent.closedByServer, `a silent connection is closed too (${silent.ms} ms)`);

  // Headers on time, then the body a byte every 100 ms: cut at requestTimeout.
  const body = ['POST /slow-body HTTP/1.1\r\nHost: app\r\nContent-Length: 100\r\n\r\n', ...Array.from({ length: 40 }, () => 'x')];
  const slowBody = await rawExchange(port, body, { pieceDelayMs: 100, timeoutMs: 5000 });
  t.ok(slowBody.closedByServer, `the slow body is cut (${slowBody.ms} ms)`);
  t.ok(slowBody.ms < 2500, 'within requestTimeout and one check interval');
  t.notOk(slowBody.responses.some((r) => r.status === 200), 'no success was made up for a request that never arrived whole');
  t.notOk(up.requests.some((r) => r.url === '/slow-body'), 'the upstream never got a complete request');
  await until(async () => {
    const status = (await proxy.admin('/status')).json() as { listeners: { inFlight: number }[] };
    return status.listeners[0]?.inFlight === 0;
  }, 'nothing in flight');

  // Idle keep-alive: answered, then left alone; the server closes it after keepAliveTimeout.
  const idle = await rawExchange(port, wellFormed('/idle'), { timeoutMs: 5000 });
  t.equal(idle.responses[0]?.status, 200, 'the request on it was answered');
  t.ok(idle.closedByServer && idle.ms < 2000, `the idle keep-alive connection is closed (${idle.ms} ms)`);

  const metrics = (await proxy.admin('/metrics')).body;
  t.match(metrics, /outrider_client_errors_total\{listener="outbound",code="request-timeout"\} [1-9]/, 'timeouts are counted');
});

t.test('a listener holds at most maxConnections; the rest are closed at accept', async (t) => {
  const up = await startUpstream();
  const proxy = await startSidecar(simplePolicy(up.url), { listenerLimits: { maxConnections: 5 } });
  const port = proxy.sidecar.listenerPort('outbound');
  const open: net.Socket[] = [];
  t.teardown(async () => {
    for (const s of open) s.destroy();
    await proxy.close();
    await up.close();
  });
  for (let i = 0; i < 5; i++) {
    const socket = net.connect(port, '127.0.0.1');
    socket.on('error', () => undefined);
    await new Promise((resolve) => socket.once('connect', resolve));
    open.push(socket);
  }
  // The kernel accepts the sixth; node closes it at once.
  const sixth = await rawExchange(port, wellFormed('/sixth'), { timeoutMs: 3000 });
  t.ok(sixth.closedByServer, 'the sixth connection is closed');
  t.equal(sixth.responses.length, 0, 'without an answer');
  t.notOk(up.requests.some((r) => r.url === '/sixth'), 'and its request went nowhere');
  const metrics = (await proxy.admin('/metrics')).body;
  t.match(metrics, /outrider_connections_dropped_total\{listener="outbound"\} 1/, 'the drop is counted');

  open.pop()?.destroy();
  await until(async () => {
    const reply = await rawExchange(port, wellFormed('/seventh'), { expect: 1, timeoutMs: 1000 });
    return reply.responses[0]?.status === 200;
  }, 'a connection to be accepted once one closed');
  t.pass('once one closes, a new connection is served');
});

t.test('200 clients trickling request bodies hold no upstream connection: normal requests beside them are answered', async (t) => {
  const up = await startUpstream();
  // The default pool of 128 connections per endpoint: before request buffering, 128 slow bodies
  // took every one and the normal requests waited for the route timeout.
  const proxy = await startSidecar(simplePolicy(up.url, '    timeout: 3s\n'));
  const port = proxy.sidecar.listenerPort('outbound');
  const slow: net.Socket[] = [];
  t.teardown(async () => {
    for (const s of slow) s.destroy();
    await proxy.close();
    await up.close();
  });
  for (let i = 0; i < 200; i++) {
    const socket = net.connect(port, '127.0.0.1');
    socket.on('error', () => undefined);
    await new Promise((resolve) => socket.once('connect', resolve));
    // Headers and one byte of a 100-byte body, then nothing (slowhttptest -B sends a byte now and then).
    socket.write(`POST /slow-body/${i} HTTP/1.1\r\nHost: app\r\nContent-Length: 100\r\n\r\nx`);
    slow.push(socket);
  }
  await until(async () => {
    const status = (await proxy.admin('/status')).json() as { listeners: { inFlight: number }[] };
    return status.listeners[0]?.inFlight === 200;
  }, 'the 200 slow requests to be in flight');
  const normal = await Promise.all(Array.from({ length: 20 }, (_, i) => rawExchange(port, wellFormed(`/normal/${i}`), { expect: 1, timeoutMs: 5000 })));
  t.same(
    normal.map((r) => r.responses[0]?.status),
    Array(20).fill(200),
    'all 20 normal requests answered while 200 bodies trickle',
  );
  t.equal(up.arrived, 20, 'the upstream saw only the normal requests');
});

t.test('a client that does not read: released within the buffer, reset at idleTimeout past it', async (t) => {
  const up = await startUpstream((req, res) => {
    const size = req.url === '/fits' ? 12 * 1024 * 1024 : req.url === '/huge' ? 64 * 1024 * 1024 : 2;
    res.writeHead(200, { 'content-length': String(size) });
    res.end(Buffer.alloc(size, 0x61));
  });
  // One pooled connection, so a response that holds it blocks the next request.
  const proxy = await startSidecar(
    `version: 1
admin: { address: 127.0.0.1:0 }
listeners:
  - { name: outbound, address: 127.0.0.1:0 }
upstreams:
  app: { endpoints: [${up.url}], connections: 1 }
routes:
  - { name: waits, match: { pathPrefix: /after }, upstream: app }
  - { name: all, match: { pathPrefix: / }, upstream: app, timeout: 0s, idleTimeout: 500ms }
`,
    // Larger than the kernel's socket buffers can hide (the production value is 256 KiB), so
    // what is seen is the listener's own buffer.
    { listenerLimits: { clientBufferBytes: 16 * 1024 * 1024 } },
  );
  const port = proxy.sidecar.listenerPort('outbound');
  const readers: net.Socket[] = [];
  t.teardown(async () => {
    for (const s of readers) s.destroy();
    await proxy.close();
    await up.close();
  });
  const stalledReader = async (path: string): Promise<net.Socket> => {
    const socket = net.connect(port, '127.0.0.1');
    socket.on('error', () => undefined);
    await new Promise((resolve) => socket.once('connect', resolve));
    socket.pause(); // never reads a byte
    socket.write(wellFormed(path));
    readers.push(socket);
    return socket;
  };

  await stalledReader('/fits');
  await until(() => up.requests.some((r) => r.url === '/fits'), 'the upstream to answer /fits');
  const next = await rawExchange(port, wellFormed('/next'), { expect: 1, timeoutMs: 5000 });
  t.equal(next.responses[0]?.status, 200, 'a 12 MiB answer to a client that does not read, within the buffer, does not hold the only upstream connection');

  const huge = await stalledReader('/huge');
  await until(() => up.requests.some((r) => r.url === '/huge'), 'the upstream to start /huge');
  const started = Date.now();
  const after = await rawExchange(port, wellFormed('/after-huge'), { expect: 1, timeoutMs: 10_000 });
  t.equal(after.responses[0]?.status, 200, `past the buffer the connection is held until idleTimeout, then freed (${Date.now() - started} ms)`);
  await until(() => huge.destroyed || huge.readableEnded || huge.closed, 'the stalled reader to be cut', 1000).catch(() => undefined);
  const status = (await proxy.admin('/status')).json() as { listeners: { inFlight: number }[] };
  t.equal(status.listeners[0]?.inFlight, 0, 'the stalled exchange was ended');
});

guard.check(t);
