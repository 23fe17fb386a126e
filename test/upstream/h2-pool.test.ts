/**
 * H2Pool against real node:http2 servers: streams share a session up to the per-connection
 * limit, then a new session opens, then requests wait for a stream to end; GOAWAY retires a
 * session without failing its streams; an idle session is closed; a connect that never
 * completes fails in connectTimeout; streaming request bodies; a stream the upstream resets;
 * an upgrade is refused; backpressure pauses and resumes the stream.
 */
import { once } from 'node:events';
import { createServer, type Http2Server, type ServerHttp2Session, type ServerHttp2Stream } from 'node:http2';
import { createServer as createTcpServer, type AddressInfo, type Socket } from 'node:net';
import { PassThrough } from 'node:stream';
import t, { type Test } from 'tap';
import type { Dispatcher } from 'undici';
import { H2Pool, type H2PoolOptions } from '../../src/upstream/h2-pool.js';

interface Outcome {
  readonly status?: number;
  readonly headers: string[];
  readonly body: string;
  readonly trailers?: Record<string, unknown> | null;
  readonly error?: Error & { code?: string };
}

/** Dispatch one request and collect what the handler callbacks report. */
function dispatch(pool: H2Pool, options: Partial<Dispatcher.DispatchOptions> = {}, hooks: { pauseFirst?: (resume: () => void) => void } = {}): Promise<Outcome> {
  return new Promise((resolve) => {
    let status: number | undefined;
    const headers: string[] = [];
    let body = '';
    let resume: (() => void) | undefined;
    let paused = false;
    const handler = {
      onConnect: () => undefined,
      onHeaders: (s: number, raw: Buffer[], r: () => void) => {
        status = s;
        headers.push(...raw.map(String));
        resume = r;
        return true;
      },
      onData: (chunk: Buffer) => {
        body += chunk.toString();
        if (hooks.pauseFirst !== undefined && !paused) {
          paused = true;
          hooks.pauseFirst(() => resume?.());
          return false;
        }
        return true;
      },
      onComplete: (trailers: unknown) => resolve({ status, headers, body, trailers: trailers as Record<string, unknown> | null }),
      onError: (error: Error) => resolve({ status, headers, body, error }),
    };
    pool.dispatch({ origin: 'x', method: 'GET', path: '/', headers: ['host', 'upstream.test'], body: null, ...options } as Dispatcher.DispatchOptions, handler as unknown as Dispatcher.DispatchHandler);
  });
}

async function h2Server(t: Test, onStream: (stream: ServerHttp2Stream, headers: Record<string, unknown>) => void): Promise<{ server: Http2Server; url: string; sessions: ServerHttp2Session[] }> {
  const server = createServer();
  const sessions: ServerHttp2Session[] = [];
  server.on('session', (s: ServerHttp2Session) => sessions.push(s));
  server.on('stream', (stream, headers) => {
    stream.on('error', () => undefined); // a reset is what some tests do on purpose
    onStream(stream, headers as Record<string, unknown>);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => {
    for (const s of sessions) s.destroy();
    server.close();
  });
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, sessions };
}

const OPTIONS: H2PoolOptions = { connections: 2, streamsPerConnection: 2, connectTimeoutMs: 1000, idleTimeoutMs: 60_000, maxHeaderListBytes: 65536 };

t.test('two streams per session, two sessions, then requests wait for a stream to end', async (t) => {
  const held: ServerHttp2Stream[] = [];
  let arrived: () => void = () => undefined;
  const { url, sessions } = await h2Server(t, (stream, headers) => {
    held.push(stream);
    (stream as ServerHttp2Stream & { path?: unknown }).path = headers[':path'];
    arrived();
  });
  const pool = new H2Pool(url, OPTIONS);
  t.teardown(() => pool.close());
  const fourArrived = new Promise<void>((resolve) => (arrived = () => held.length === 4 && resolve()));
  const answers = [1, 2, 3, 4, 5].map((i) => dispatch(pool, { path: `/${i}` }));
  await fourArrived;
  t.equal(sessions.length, 2, 'two connections');
  t.same(pool.stats, { connected: 2, running: 4 }, 'four streams; the fifth waits for room');
  t.equal(held.length, 4, 'the fifth has not reached the upstream');
  const fifthArrived = new Promise<void>((resolve) => (arrived = () => held.length === 5 && resolve()));
  held[0]?.respond({ ':status': 200 });
  held[0]?.end('one');
  await fifthArrived;
  t.equal((held[4] as unknown as { path: string }).path, '/5', 'the fifth got the freed stream');
  for (const stream of held.slice(1)) {
    stream.respond({ ':status': 200 });
    stream.end('x');
  }
  const results = await Promise.all(answers);
  t.same(results.map((r) => r.status), [200, 200, 200, 200, 200]);
  t.equal(results[0]?.body, 'one');
  t.equal(sessions.length, 2, 'no third connection was opened');
});

t.test('headers, body, trailers and the Host field become :authority', async (t) => {
  const { url } = await h2Server(t, (stream, headers) => {
    stream.respond({ ':status': 201, 'x-seen-authority': String(headers[':authority']) }, { waitForTrailers: true });
    stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
    stream.end('body');
  });
  const pool = new H2Pool(url, OPTIONS);
  t.teardown(() => pool.close());
  const result = await dispatch(pool);
  t.equal(result.status, 201);
  t.same(result.headers.slice(result.headers.indexOf('x-seen-authority'), result.headers.indexOf('x-seen-authority') + 2), ['x-seen-authority', 'upstream.test'], 'Host went as :authority');
  t.equal(result.body, 'body');
  t.equal(result.trailers?.['grpc-status'], '0', 'trailers reach onComplete');
});

t.test('a streaming request body is piped, and backpressure pauses and resumes the answer', async (t) => {
  const { url } = await h2Server(t, (stream) => {
    let got = '';
    stream.on('data', (c: Buffer) => (got += c.toString()));
    stream.on('end', () => {
      stream.respond({ ':status': 200 });
      stream.write(`got ${got};`);
      stream.end('more');
    });
  });
  const pool = new H2Pool(url, OPTIONS);
  t.teardown(() => pool.close());
  const body = new PassThrough();
  let resumed = false;
  const answer = dispatch(pool, { method: 'POST', body }, { pauseFirst: (resume) => setImmediate(() => ((resumed = true), resume())) });
  body.write('a');
  body.end('b');
  const result = await answer;
  t.equal(result.body, 'got ab;more');
  t.ok(resumed, 'the answer was paused once and resumed');
});

t.test('GOAWAY retires a session: its open stream finishes, the next request opens a new one', async (t) => {
  let first: ServerHttp2Stream | undefined;
  let arrived: () => void = () => undefined;
  const { url, sessions } = await h2Server(t, (stream) => {
    if (first === undefined) {
      first = stream;
      arrived();
      return;
    }
    stream.respond({ ':status': 200 });
    stream.end('second');
  });
  const pool = new H2Pool(url, OPTIONS);
  t.teardown(() => pool.close());
  const firstArrived = new Promise<void>((resolve) => (arrived = resolve));
  const answer = dispatch(pool);
  await firstArrived;
  sessions[0]?.goaway();
  // A PING sent after the GOAWAY is answered after the client has read the GOAWAY.
  await new Promise<void>((resolve) => sessions[0]?.ping(() => resolve()));
  const second = await dispatch(pool);
  t.equal(second.body, 'second');
  t.equal(sessions.length, 2, 'the second request went on a new connection');
  first?.respond({ ':status': 200 });
  first?.end('first');
  t.equal((await answer).body, 'first', 'the stream open at GOAWAY finished');
});

t.test('an idle session is closed after idleTimeout', async (t) => {
  const { url, sessions } = await h2Server(t, (stream) => {
    stream.respond({ ':status': 204 });
    stream.end();
  });
  const pool = new H2Pool(url, { ...OPTIONS, idleTimeoutMs: 30 });
  t.teardown(() => pool.close());
  await dispatch(pool);
  await once(sessions[0] as ServerHttp2Session, 'close');
  t.same(pool.stats, { connected: 0, running: 0 }, 'closed by the pool after 30 ms idle');
});

t.test('the upstream resets a stream before answering: onError says so', async (t) => {
  const { url } = await h2Server(t, (stream) => stream.close(0x2));
  const pool = new H2Pool(url, OPTIONS);
  t.teardown(() => pool.close());
  const result = await dispatch(pool);
  t.match(result.error?.message, /closed the stream before the answer was complete|RST_STREAM|stream/i);
  t.equal(result.status, undefined);
});

t.test('refused, never-answering and upgrade requests fail with a classifiable error', async (t) => {
  const silent = createTcpServer((socket: Socket) => socket.on('error', () => undefined));
  silent.listen(0, '127.0.0.1');
  await once(silent, 'listening');
  t.teardown(() => silent.close());
  const silentPort = (silent.address() as AddressInfo).port;
  const tlsPool = new H2Pool(`https://127.0.0.1:${silentPort}`, { ...OPTIONS, connectTimeoutMs: 50, tls: {} });
  t.teardown(() => tlsPool.close());
  const timedOut = await dispatch(tlsPool);
  t.equal(timedOut.error?.code, 'UND_ERR_CONNECT_TIMEOUT', 'a TLS handshake that never completes: connect timeout');

  const closedServer = createTcpServer();
  closedServer.listen(0, '127.0.0.1');
  await once(closedServer, 'listening');
  const closedPort = (closedServer.address() as AddressInfo).port;
  closedServer.close();
  const refusedPool = new H2Pool(`http://127.0.0.1:${closedPort}`, OPTIONS);
  t.teardown(() => refusedPool.close());
  const refused = await dispatch(refusedPool);
  t.equal(refused.error?.code, 'ECONNREFUSED', 'a closed port: the refusal, not the stream-cancel wrapping it');

  const upgrade = await dispatch(refusedPool, { upgrade: 'websocket' });
  t.match(upgrade.error?.message, /cannot be sent over HTTP\/2/);
});
