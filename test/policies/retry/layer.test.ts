import { createHash, randomBytes } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import t, { type Test } from 'tap';
import { backoffMs, retryAfterMs } from '../../../src/policies/retry/layer.js';
import { holding, until } from '../../helpers/held.js';
import { send } from '../../helpers/http.js';
import { startSidecar, type TestSidecar } from '../../helpers/sidecar.js';
import { closedPort, delayed, echo, reset, resetMidBody, startUpstream, status, type Behaviour, type TestUpstream } from '../../helpers/upstream.js';

function policy(endpoints: string, retry: string, extra = ''): string {
  return `version: 1
admin: { address: 127.0.0.1:0 }
accessLog: off
listeners: [ { name: outbound, address: 127.0.0.1:0 } ]
upstreams:
  app: { endpoints: [${endpoints}] }
routes:
  - name: r
    match: { pathPrefix: / }
    upstream: app
    retry: ${retry}
${extra}`;
}

/** Fails the first `n` requests with `failure`, then answers with `then`. */
function failFirst(n: number, failure: Behaviour, then: Behaviour = echo): Behaviour {
  let seen = 0;
  return (req, res, body) => (seen++ < n ? failure(req, res, body) : then(req, res, body));
}

async function withProxy(t: Test, upstream: TestUpstream, yaml: string): Promise<TestSidecar> {
  const proxy = await startSidecar(yaml);
  t.teardown(async () => {
    await proxy.close();
    await upstream.close();
  });
  return proxy;
}

t.test('retries on each listed condition, and only on those', async (t) => {
  const cases: [string, Behaviour, string, boolean][] = [
    ['503 listed', status(503), '[503]', true],
    ['502 via gateway-error', status(502), '[gateway-error]', true],
    ['500 via 5xx', status(500), '[5xx]', true],
    ['500 not listed', status(500), '[502, 503]', false],
    ['404 never unless listed', status(404), '[5xx]', false],
    ['429 listed explicitly', status(429), '[429]', true],
    ['reset listed', reset, '[reset]', true],
    ['reset not listed', reset, '[503]', false],
  ];
  for (const [name, failure, on, retried] of cases) {
    const upstream = await startUpstream(failFirst(1, failure));
    const proxy = await startSidecar(policy(upstream.url, `{ attempts: 3, on: ${on}, backoff: { base: 1ms, max: 2ms } }`));
    const reply = await send(proxy.url(), '/x');
    await proxy.close();
    await upstream.close();
    t.equal(upstream.arrived, retried ? 2 : 1, `${name}: ${retried ? 'retried once' : 'not retried'}`);
    t.equal(reply.headers['x-outrider-attempts'], retried ? '2' : '1', `${name}: x-outrider-attempts`);
    if (retried) t.equal(reply.status, 200, `${name}: the retry's answer is passed on`);
  }
});

t.test('connect-failure is retried on another endpoint', async (t) => {
  const good = await startUpstream();
  const dead = await closedPort();
  const proxy = await withProxy(t, good, policy(`http://127.0.0.1:${dead}, ${good.url}`, '{ attempts: 2, on: [connect-failure], backoff: { base: 1ms, max: 1ms } }'));
  for (let i = 0; i < 6; i++) {
    const reply = await send(proxy.url(), `/${i}`);
    t.equal(reply.status, 200, `request ${i} succeeds`);
  }
  t.equal(good.requests.length, 6, 'every request ended on the live endpoint');
  const attemptHeaders = good.requests.map((r) => r.headers['x-outrider-attempt']);
  t.ok(attemptHeaders.includes('2'), 'tries carry x-outrider-attempt: N');
});

t.test('timeout (perTryTimeout) is retried; the second try answers', async (t) => {
  const upstream = await startUpstream(failFirst(1, delayed(2_000)));
  const proxy = await withProxy(t, upstream, policy(upstream.url, '{ attempts: 2, perTryTimeout: 100ms, on: [timeout], backoff: { base: 1ms, max: 1ms } }'));
  const reply = await send(proxy.url(), '/slow-then-fast');
  t.equal(reply.status, 200);
  t.equal(reply.headers['x-outrider-attempts'], '2');
});

t.test('methods: POST is not retried by default, and is when listed', async (t) => {
  const upstream = await startUpstream(status(503));
  const proxy = await withProxy(t, upstream, policy(upstream.url, '{ attempts: 3, on: [503], backoff: { base: 1ms, max: 1ms } }'));
  await send(proxy.url(), '/p', { method: 'POST', body: 'x' });
  t.equal(upstream.arrived, 1, 'POST sent once');
  await send(proxy.url(), '/g');
  t.equal(upstream.arrived, 4, 'GET tried three times');

  const other = await startUpstream(status(503));
  const listed = await withProxy(t, other, policy(other.url, '{ attempts: 2, on: [503], methods: [POST], backoff: { base: 1ms, max: 1ms } }'));
  await send(listed.url(), '/p', { method: 'POST', body: 'x' });
  t.equal(other.arrived, 2, 'POST retried when listed');
});

t.test('the body is replayed byte-identically', async (t) => {
  const hashes: string[] = [];
  const upstream = await startUpstream(
    failFirst(
      2,
      (req, res, body) => {
        hashes.push(createHash('sha256').update(body).digest('hex'));
        status(503)(req, res, body);
      },
      (req, res, body) => {
        hashes.push(createHash('sha256').update(body).digest('hex'));
        echo(req, res, body);
      },
    ),
  );
  const proxy = await withProxy(t, upstream, policy(upstream.url, '{ attempts: 3, on: [503], methods: [PUT], backoff: { base: 1ms, max: 1ms } }'));
  const body = randomBytes(200_000);
  const reply = await send(proxy.url(), '/put', { method: 'PUT', body });
  t.equal(reply.status, 200);
  const expected = createHash('sha256').update(body).digest('hex');
  t.same(hashes, [expected, expected, expected], 'three tries, the same bytes each time');
});

t.test('a body above replayBodyLimit is streamed once and not retried', async (t) => {
  const upstream = await startUpstream(status(503));
  const proxy = await withProxy(
    t,
    upstream,
    policy(upstream.url, '{ attempts: 3, on: [503], methods: [PUT], backoff: { base: 1ms, max: 1ms } }').replace('accessLog: off', 'accessLog: off\nreplayBodyLimit: 64KiB'),
  );
  const reply = await send(proxy.url(), '/big', { method: 'PUT', body: randomBytes(100_000) });
  t.equal(reply.status, 503);
  t.equal(upstream.arrived, 1, 'sent once');
  t.equal(upstream.requests[0]?.bodyBytes, 100_000, 'the whole body arrived');
  const chunked = await send(proxy.url(), '/chunked', { method: 'PUT', body: randomBytes(100_000), headers: { 'transfer-encoding': 'chunked' } });
  t.equal(chunked.status, 503);
  t.equal(upstream.requests[1]?.bodyBytes, 100_000, 'a chunked body past the limit is streamed whole');
  const metrics = (await proxy.admin('/metrics')).body;
  t.match(metrics, /outrider_replay_skipped_total\{route="r"\} 2/);
});

t.test('Retry-After is honoured: a wait longer than the deadline passes the answer on', async (t) => {
  const upstream = await startUpstream((_req, res) => {
    res.writeHead(503, { 'retry-after': '30' });
    res.end('later');
  });
  const proxy = await withProxy(t, upstream, policy(upstream.url, '{ attempts: 3, on: [503] }', '    timeout: 2s\n'));
  const reply = await send(proxy.url(), '/ra');
  t.equal(reply.status, 503, 'the upstream answer is passed on rather than waiting 30 s');
  t.equal(upstream.arrived, 1);
  t.equal(reply.body, 'later');
});

t.test('never retried after response bytes reached the client', async (t) => {
  const upstream = await startUpstream(resetMidBody);
  const proxy = await withProxy(t, upstream, policy(upstream.url, '{ attempts: 3, on: [reset, 5xx], backoff: { base: 1ms, max: 1ms } }').replace('accessLog: off\n', ''));
  await t.rejects(send(proxy.url(), '/partial'));
  // The access-log line is written once the exchange is over (the client cut): every try it
  // made has been sent by then.
  await until(() => proxy.accessLog.lines.some((l) => l.path === '/partial'), 'the access-log line of /partial');
  t.equal(proxy.accessLog.lines.find((l) => l.path === '/partial')?.attempts, 1, 'the exchange made one try');
  t.equal(upstream.arrived, 1, 'one try reached the upstream');
});

t.test('a client that leaves during the retry backoff: nothing stays in flight, the held answer is aborted, no retry is sent', async (t) => {
  // A 503 with a 64 MiB body, written as it is read: far more than the proxy reads ahead of a
  // reader (64 KiB) and than the sockets hold, so the try stays open, its body unread, while
  // retry waits (Retry-After: 5) in case it must pass it on; and it cannot finish unless read.
  const upstream = await startUpstream((_req, res) => {
    const piece = Buffer.alloc(64 * 1024, 0x35);
    const pieces = 1024;
    res.writeHead(503, { 'retry-after': '5', 'content-length': String(piece.length * pieces) });
    let sent = 0;
    const pump = (): void => {
      while (sent < pieces) {
        sent += 1;
        if (!res.write(piece)) return void res.once('drain', pump);
      }
      res.end();
    };
    pump();
  });
  const proxy = await withProxy(t, upstream, policy(upstream.url, '{ attempts: 3, on: [503] }', '    timeout: 30s\n'));
  type Status = {
    listeners: { inFlight: number }[];
    upstreams: { endpoints: { inFlight: number }[] }[];
    routes: { retry: { budget: { extraTries: number } } }[];
  };
  const status = async (): Promise<Status> => (await proxy.admin('/status')).json() as Status;
  const inFlight = (s: Status): [number | undefined, number | undefined] => [s.listeners[0]?.inFlight, s.upstreams[0]?.endpoints[0]?.inFlight];

  const url = new URL(proxy.url());
  const client = httpRequest({ host: url.hostname, port: url.port, path: '/backoff', agent: false });
  client.on('error', () => undefined);
  client.end();
  // The budget grants the retry right before the wait starts.
  await until(async () => (await status()).routes[0]?.retry.budget.extraTries === 1, 'the retry to be granted (its backoff starts)');
  t.same(inFlight(await status()), [1, 1], 'during the backoff: the request, and the 503 kept unread, are in flight');

  client.destroy();
  await until(async () => inFlight(await status()).every((n) => n === 0), 'in-flight counts to go back to 0');
  t.same(inFlight(await status()), [0, 0], 'after the client left: nothing in flight, listener or endpoint');
  await until(() => upstream.arrivals[0]?.closed === true, 'the kept 503 to be closed at the upstream');
  t.equal(upstream.arrivals[0]?.aborted, true, 'the kept 503 was aborted, not read to its end');
  t.equal(upstream.arrived, 1, 'no retry was sent');
});

t.test('the route timeout wins over attempts', async (t) => {
  const upstream = await startUpstream(status(503));
  const proxy = await withProxy(t, upstream, policy(upstream.url, '{ attempts: 50, on: [503], backoff: { base: 40ms, max: 40ms }, budget: { ratio: 1, minPerSecond: 100 } }', '    timeout: 300ms\n'));
  const reply = await send(proxy.url(), '/t');
  t.ok([503, 504].includes(reply.status), `answered ${reply.status} at the deadline`);
  t.ok(upstream.arrived < 50, `stopped at the deadline after ${upstream.arrived} tries`);
});

/** The route's retry counter on /metrics (retries started, after their backoff); absent until the first. */
async function retriesOf(proxy: TestSidecar, route = 'r'): Promise<number> {
  const metrics = (await proxy.admin('/metrics')).body;
  const match = new RegExp(`outrider_tries_total\\{route="${route}",kind="retry"\\} (\\d+)`).exec(metrics);
  return Number(match?.[1] ?? 0);
}

t.test('circuit-open is a refusal, never retried: the request is answered at once and never reaches the upstream', async (t) => {
  const upstream = await startUpstream(status(503));
  const proxy = await withProxy(
    t,
    upstream,
    policy(
      upstream.url,
      '{ attempts: 3, on: [503, reset, connect-failure, timeout], backoff: { base: 20ms, max: 20ms } }',
      '    circuitBreaker: { failureRatio: 0.5, minRequests: 1, window: 10s, openFor: 300ms, halfOpenRequests: 1 }\n',
    ),
  );
  const state = async (): Promise<string | undefined> =>
    ((await proxy.admin('/status')).json() as { routes: { circuitBreaker?: { state: string } }[] }).routes[0]?.circuitBreaker?.state;

  // One 503 opens the breaker (minRequests 1); the retry of that 503 meets the open breaker.
  const opening = await send(proxy.url(), '/open');
  t.equal(opening.status, 503);
  t.equal(opening.headers['x-outrider-error'], 'circuit-open', 'the retry found the breaker open and passed the refusal on');
  t.equal(upstream.arrived, 1, 'the refusal was not retried into the upstream');
  t.equal(await retriesOf(proxy), 1, 'one retry: of the 503, not of the refusal');

  // Half-open with its one probe held at the upstream: the next request is refused.
  await until(async () => (await state()) === 'half-open', 'the breaker to go half-open');
  const held = holding();
  upstream.behave(held.behaviour);
  const probe = send(proxy.url(), '/probe');
  await until(() => held.count === 1, 'the probe to be held at the upstream');
  const refused = await send(proxy.url(), '/refused');
  t.equal(refused.status, 503, 'answered while the probe is still held: not waiting to retry');
  t.equal(refused.headers['x-outrider-error'], 'circuit-open');
  t.equal(refused.headers['x-outrider-attempts'], '0', 'no try was made');
  t.equal(await retriesOf(proxy), 1, 'and no retry was started for it');
  held.release(200);
  t.equal((await probe).status, 200, 'the probe succeeds and closes the breaker');
  t.equal(await state(), 'closed');
  t.same(
    upstream.arrivals.map((a) => a.url),
    ['/open', '/probe'],
    'the upstream saw the first request and the probe, never the refused one',
  );
});

t.test('bulkhead-full is a refusal, never retried: the request is answered at once and never reaches the upstream', async (t) => {
  const held = holding();
  const upstream = await startUpstream(held.behaviour);
  const proxy = await withProxy(
    t,
    upstream,
    policy(upstream.url, '{ attempts: 3, on: [503, reset, connect-failure, timeout], backoff: { base: 20ms, max: 20ms } }', '    bulkhead: { maxConcurrent: 1, maxQueued: 0 }\n'),
  );
  const first = send(proxy.url(), '/first');
  await until(() => held.count === 1, 'the first request to hold the only slot');
  const refused = await send(proxy.url(), '/refused');
  t.equal(refused.status, 503, 'answered while the slot is still taken: not waiting to retry');
  t.equal(refused.headers['x-outrider-error'], 'bulkhead-full');
  t.equal(await retriesOf(proxy), 0, 'no retry was started');
  held.release(200);
  t.equal((await first).status, 200);
  t.same(
    upstream.arrivals.map((a) => a.url),
    ['/first'],
    'the upstream saw only the admitted request',
  );
});

t.test('budget: with a dead upstream, retries stay within ratio x requests + floor', async (t) => {
  const upstream = await startUpstream(status(503));
  const proxy = await withProxy(t, upstream, policy(upstream.url, '{ attempts: 3, on: [503], backoff: { base: 1ms, max: 1ms }, budget: { ratio: 0.2, minPerSecond: 2 } }'));
  const requests = 60;
  const started = Date.now();
  for (let i = 0; i < requests; i++) await send(proxy.url(), `/${i}`);
  const windows = Math.ceil((Date.now() - started) / 10_000);
  const retries = upstream.arrived - requests;
  // Each 10 s window allows 0.2 of its requests plus the floor's 2 per second.
  const allowed = 0.2 * requests + 2 * 10 * windows;
  t.ok(retries <= allowed, `${retries} retries for ${requests} requests (allowed ${allowed})`);
  t.ok(retries >= 2, 'the floor still allows some retries');
  t.ok(upstream.arrived < requests * 3, 'an outage does not triple the load');
  const metrics = (await proxy.admin('/metrics')).body;
  t.match(metrics, /outrider_budget_exhausted_total\{route="r",budget="retry"\} [1-9]/);
  t.match(metrics, /outrider_tries_total\{route="r",kind="retry"\} [1-9]/);
  const status503 = await send(proxy.url(), '/last');
  t.equal(status503.status, 503, 'when the budget says no, the last upstream answer is passed on');
  t.equal(status503.headers['x-outrider-error'], undefined, 'it is the upstream answer, not the sidecar error');
  const state = (await proxy.admin('/status')).json() as { routes: { retry: { budget: { requests: number } } }[] };
  t.ok((state.routes[0]?.retry.budget.requests ?? 0) > 0, '/status shows the budget');
});

t.test('backoff is full jitter within [0, min(max, base*2^n)]', async (t) => {
  const retry = { attempts: 5, perTryTimeoutMs: undefined, on: [], backoff: { baseMs: 25, maxMs: 250 }, budget: { ratio: 0.2, minPerSecond: 10 }, methods: [] };
  t.equal(backoffMs(retry, 0, () => 0.999999) < 25, true);
  t.equal(backoffMs(retry, 2, () => 0.5), 50);
  t.equal(backoffMs(retry, 10, () => 1), 250, 'capped at max');
  t.equal(backoffMs(retry, 3, () => 0), 0);
  const headers = ['Retry-After', '2'];
  t.equal(retryAfterMs({ status: 503, headers, body: undefined as never }), 2000);
  const at = Date.now() + 5000;
  const dated = retryAfterMs({ status: 503, headers: ['retry-after', new Date(at).toUTCString()], body: undefined as never }, at - 5000);
  t.ok(dated !== undefined && dated > 3000 && dated <= 5000);
});
