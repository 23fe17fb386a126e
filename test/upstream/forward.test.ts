import { createHash, randomBytes } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import t from 'tap';
import { holding, until } from '../helpers/held.js';
import { send } from '../helpers/http.js';
import { memorySidecar } from '../helpers/memory.js';
import { simplePolicy, startSidecar } from '../helpers/sidecar.js';
import { closedPort, delayed, echo, largeBody, reset, resetMidBody, startUpstream, status } from '../helpers/upstream.js';

const MiB = 1024 * 1024;
/** Live memory (after gc) a streamed body may add: a few pieces in flight; a buffered one holds all of it (96 or 128 MiB). */
const LIVE_LIMIT = 32 * MiB;
/** Peak rss a streamed body may add, garbage included: V8 collects Buffers only once some 64 MiB have piled up. */
const RSS_LIMIT = 64 * MiB;

t.test('request and response headers: hop-by-hop stripped, forwarding headers added', async (t) => {
  const upstream = await startUpstream((req, res) => {
    res.writeHead(200, { connection: 'x-hop', 'x-hop': 'secret', 'keep-alive': 'timeout=5', 'x-kept': 'yes' });
    res.end('ok');
  });
  const proxy = await startSidecar(simplePolicy(upstream.url));
  t.teardown(async () => {
    await proxy.close();
    await upstream.close();
  });

  const reply = await send(proxy.url(), '/a', {
    headers: {
      connection: 'x-custom',
      'x-custom': 'drop-me',
      'proxy-authorization': 'Basic abc',
      te: 'trailers',
      'x-forwarded-for': '10.1.1.1',
      traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
      'x-request-id': 'req-123',
      'x-app': 'kept',
    },
  });
  t.equal(reply.status, 200);
  t.equal(reply.headers['x-hop'], undefined, 'a response header named in Connection is dropped');
  t.equal(reply.headers['keep-alive'] === 'timeout=5', false, 'the upstream keep-alive header is not passed on');
  t.equal(reply.headers['x-kept'], 'yes');
  t.equal(reply.headers['x-outrider-attempts'], '1');

  const seen = upstream.requests[0]?.headers ?? {};
  t.equal(seen['x-custom'], undefined, 'a request header named in Connection is dropped');
  t.equal(seen['proxy-authorization'], undefined);
  t.equal(seen.te, 'trailers', 'TE: trailers is the one TE value passed on (HTTP/2 allows only it, gRPC needs it)');
  t.equal(seen['x-app'], 'kept');
  t.equal(seen['x-forwarded-for'], '10.1.1.1, 127.0.0.1', 'the client address is appended');
  t.equal(seen['x-forwarded-proto'], 'http');
  t.equal(seen['x-request-id'], 'req-123', 'a request id is kept');
  t.equal(seen.traceparent, '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01');
  t.equal(seen['x-outrider-attempt'], '1');

  await send(proxy.url(), '/b');
  const generated = upstream.requests[1]?.headers['x-request-id'];
  t.match(generated, /^[0-9a-f-]{36}$/, 'a request id is generated when absent');
});

t.test('request bodies reach the upstream intact', async (t) => {
  const upstream = await startUpstream();
  const proxy = await startSidecar(simplePolicy(upstream.url));
  t.teardown(async () => {
    await proxy.close();
    await upstream.close();
  });
  const body = randomBytes(300_000);
  const reply = await send(proxy.url(), '/upload', { method: 'POST', body, headers: { 'content-type': 'application/octet-stream' } });
  t.equal(reply.status, 200);
  t.equal(reply.json().bodyBytes, body.length);
});

/**
 * Memory is the sidecar's own, measured in a child process started with --expose-gc (see
 * helpers/memory.ts): garbage collected before, then, while the body goes through, its peak live
 * memory (sampled right after a gc) and its peak rss (garbage included, so its bound is
 * RSS_LIMIT). A sidecar that buffered the body would hold all of it at once, past both bounds.
 */
t.test('large bodies stream both ways without being buffered', async (t) => {
  // Bodies past both bounds show that nothing is buffered; bigger ones only slow the file (the
  // child runs under coverage) towards tap's timeout on a loaded machine.
  const total = 128 * MiB;
  const upstream = await startUpstream(largeBody(total));
  // The route timeout bounds the response body too: a loaded CI machine moves 128 MiB slower than 15 s.
  const proxy = await memorySidecar(simplePolicy(upstream.url, '    timeout: 300s\n'));
  t.teardown(async () => {
    await proxy.close();
    await upstream.close();
  });
  const mib = (bytes: number): number => Math.round(bytes / MiB);

  const hash = createHash('sha256');
  let received = 0;
  const download = await proxy.measure(async () => {
    received = await new Promise<number>((resolve, reject) => {
      const url = new URL(proxy.url);
      httpRequest({ host: url.hostname, port: url.port, path: '/download', agent: false }, (res) => {
        let n = 0;
        res.on('data', (c: Buffer) => {
          n += c.length;
          hash.update(c);
        });
        res.on('end', () => resolve(n));
        res.on('error', reject);
      })
        .on('error', reject)
        .end();
    });
  });
  t.equal(received, total, 'every byte of the download arrived');
  t.ok(download.live < LIVE_LIMIT, `live memory grew by ${mib(download.live)} MiB for a ${mib(total)} MiB download (limit ${mib(LIVE_LIMIT)} MiB)`);
  t.ok(download.rss < RSS_LIMIT, `rss grew by ${mib(download.rss)} MiB for a ${mib(total)} MiB download (limit ${mib(RSS_LIMIT)} MiB)`);

  // Upload: well past replayBodyLimit (1 MiB), so it streams through.
  upstream.behave(echo);
  const uploadTotal = 96 * MiB;
  let uploadReply = '';
  const upload = await proxy.measure(async () => {
    uploadReply = await new Promise<string>((resolve, reject) => {
      const url = new URL(proxy.url);
      const req = httpRequest(
        { host: url.hostname, port: url.port, path: '/upload', method: 'PUT', agent: false, headers: { 'content-length': String(uploadTotal) } },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve(Buffer.concat(chunks).toString()));
        },
      );
      req.on('error', reject);
      const piece = Buffer.alloc(1024 * 1024, 0x63);
      let sent = 0;
      const pump = (): void => {
        while (sent < uploadTotal) {
          sent += piece.length;
          if (!req.write(piece)) return void req.once('drain', pump);
        }
        req.end();
      };
      pump();
    });
  });
  t.equal((JSON.parse(uploadReply) as { bodyBytes: number }).bodyBytes, uploadTotal, 'every byte of the upload arrived');
  t.ok(upload.live < LIVE_LIMIT, `live memory grew by ${mib(upload.live)} MiB for a ${mib(uploadTotal)} MiB upload (limit ${mib(LIVE_LIMIT)} MiB)`);
  t.ok(upload.rss < RSS_LIMIT, `rss grew by ${mib(upload.rss)} MiB for a ${mib(uploadTotal)} MiB upload (limit ${mib(RSS_LIMIT)} MiB)`);
});

t.test('route timeout: 504 timeout, and the upstream request is cancelled', async (t) => {
  const held = holding();
  const upstream = await startUpstream(held.behaviour);
  const proxy = await startSidecar(simplePolicy(upstream.url).replace('upstream: app', 'upstream: app\n    timeout: 150ms'));
  t.teardown(async () => {
    await proxy.close();
    await upstream.close();
  });
  const reply = await send(proxy.url(), '/slow');
  t.equal(reply.status, 504);
  t.equal(reply.headers['x-outrider-error'], 'timeout');
  t.equal(reply.json().error, 'timeout');
  t.equal(reply.json().route, 'all');
  t.equal(reply.json().upstream, 'app');
  // The held request is never answered: its response can only close if the proxy cuts it.
  await until(() => upstream.arrivals[0]?.closed === true, 'the upstream request to be closed');
  t.equal(upstream.arrivals[0]?.aborted, true, 'the upstream request was aborted, not left running');
});

t.test('upstream down: 502 upstream-unreachable', async (t) => {
  const port = await closedPort();
  const proxy = await startSidecar(simplePolicy(`http://127.0.0.1:${port}`));
  t.teardown(() => proxy.close());
  const reply = await send(proxy.url(), '/x');
  t.equal(reply.status, 502);
  t.equal(reply.headers['x-outrider-error'], 'upstream-unreachable');
  t.same(reply.json().error, 'upstream-unreachable');
  const post = await send(proxy.url(), '/x', { method: 'POST', body: 'hello' });
  t.equal(post.status, 502, 'a request with a body gets its 502 too');
});

t.test('upstream resets: before headers 502 upstream-reset; mid-body the client connection is cut', async (t) => {
  const upstream = await startUpstream(reset);
  const proxy = await startSidecar(simplePolicy(upstream.url));
  t.teardown(async () => {
    await proxy.close();
    await upstream.close();
  });
  const reply = await send(proxy.url(), '/reset');
  t.equal(reply.status, 502);
  t.equal(reply.headers['x-outrider-error'], 'upstream-reset');

  upstream.behave(resetMidBody);
  await t.rejects(send(proxy.url(), '/mid'), 'the client sees the body cut short');

  upstream.behave(status(201, 'fine'));
  const after = await send(proxy.url(), '/after');
  t.equal(after.status, 201, 'other requests proceed');
  t.equal(after.body, 'fine');
});

t.test('a client that goes away aborts its upstream request', async (t) => {
  const held = holding();
  const upstream = await startUpstream(held.behaviour);
  const proxy = await startSidecar(simplePolicy(upstream.url));
  t.teardown(async () => {
    await proxy.close();
    await upstream.close();
  });
  const url = new URL(proxy.url());
  const client = httpRequest({ host: url.hostname, port: url.port, path: '/gone', agent: false });
  client.on('error', () => undefined);
  client.end();
  await until(() => held.count === 1, 'the request to be held at the upstream');
  client.destroy();
  await until(() => upstream.arrivals[0]?.closed === true, 'the upstream request to be closed');
  t.equal(upstream.arrivals[0]?.aborted, true, 'the upstream saw its request aborted, not answered');
  const inFlight = async (): Promise<number | undefined> =>
    ((await proxy.admin('/status')).json() as { upstreams: { endpoints: { inFlight: number }[] }[] }).upstreams[0]?.endpoints[0]?.inFlight;
  await until(async () => (await inFlight()) === 0, 'the try to leave the in-flight count');
  t.equal(await inFlight(), 0, 'no try is left in flight');
});

t.test('balancing across endpoints', async (t) => {
  const endpoints = [await startUpstream(), await startUpstream(), await startUpstream()];
  t.teardown(async () => {
    for (const e of endpoints) await e.close();
  });
  const list = endpoints.map((e) => e.url).join(', ');

  for (const balance of ['round-robin', 'random', 'least-request'] as const) {
    for (const e of endpoints) e.requests.length = 0;
    const proxy = await startSidecar(simplePolicy(list).replace(`endpoints: [${list}] }`, `endpoints: [${list}], balance: ${balance} }`));
    for (let i = 0; i < 60; i++) await send(proxy.url(), `/${i}`);
    await proxy.close();
    const counts = endpoints.map((e) => e.requests.length);
    t.equal(counts.reduce((a, b) => a + b, 0), 60, `${balance}: every request was answered once`);
    if (balance === 'round-robin') t.same(counts, [20, 20, 20], 'round-robin spreads evenly');
    else t.ok(counts.every((c) => c > 0), `${balance}: every endpoint got requests (${counts.join('/')})`);
  }

  // least-request: with one endpoint stalled, the others take nearly everything in flight.
  for (const e of endpoints) {
    e.requests.length = 0;
    e.arrived = 0;
  }
  endpoints[0]?.behave(delayed(300));
  const proxy = await startSidecar(simplePolicy(list).replace(`endpoints: [${list}] }`, `endpoints: [${list}], balance: least-request }`));
  t.teardown(() => proxy.close());
  await Promise.all(Array.from({ length: 40 }, (_, i) => send(proxy.url(), `/c${i}`)));
  const slow = endpoints[0]?.arrived ?? 0;
  t.ok(slow < 20, `least-request sent ${slow} of 40 concurrent requests to the stalled endpoint`);
});
