/**
 * The bulkhead through a real sidecar and real upstreams on 127.0.0.1. The upstream holds
 * requests until the test lets them go, so concurrency, queueing and isolation are asserted
 * by counting (requests held at the upstream, queue length on /status), never by timing.
 */
import { request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import t, { type Test } from 'tap';
import { send } from '../../helpers/http.js';
import { holding, until, type Held } from '../../helpers/held.js';
import { simplePolicy, startSidecar, type TestSidecar } from '../../helpers/sidecar.js';
import { echo, startUpstream, type Behaviour, type TestUpstream } from '../../helpers/upstream.js';

interface BulkheadStatus {
  inFlight: number;
  queued: number;
  partitions: number;
  partitionBy: string | null;
  rejected: { 'queue-full': number; 'queue-timeout': number };
  busiest: { key: string; inFlight: number; queued: number }[];
}

async function bulkheadOf(proxy: TestSidecar): Promise<BulkheadStatus> {
  const status = (await proxy.admin('/status')).json() as { routes: { name: string; bulkhead?: BulkheadStatus }[] };
  const bulkhead = status.routes.find((r) => r.name === 'all')?.bulkhead;
  if (bulkhead === undefined) throw new Error('route all shows no bulkhead on /status');
  return bulkhead;
}

async function setUp(t: Test, block: string, behaviour: Behaviour): Promise<{ proxy: TestSidecar; upstream: TestUpstream }> {
  const upstream = await startUpstream(behaviour);
  const proxy = await startSidecar(simplePolicy(upstream.url, `    bulkhead: ${block}\n`));
  t.teardown(async () => {
    await proxy.close();
    await upstream.close();
  });
  return { proxy, upstream };
}

/** Hold the requests of tenant `a` (or those without a tenant); answer everyone else at once. */
function holdTenant(held: Held, tenant: string | undefined): Behaviour {
  return (req, res, body) => (req.headers['x-tenant-id'] === tenant ? held.behaviour(req, res, body) : echo(req, res, body));
}

/** A request the test can abandon half-way (the client goes away). */
function openRequest(base: string, path: string): { response: Promise<IncomingMessage>; abandon(): void } {
  const url = new URL(base);
  const req = httpRequest({ host: url.hostname, port: url.port, path, agent: false });
  const response = new Promise<IncomingMessage>((resolve, reject) => {
    req.on('response', resolve);
    req.on('error', reject);
  });
  response.catch(() => {}); // abandoned on purpose
  req.end();
  return { response, abandon: () => req.destroy() };
}

t.test('maxConcurrent is the cap the upstream sees; a full queue is refused at once', async (t) => {
  const held = holding();
  const { proxy, upstream } = await setUp(t, '{ maxConcurrent: 2, maxQueued: 2, queueTimeout: 30s }', held.behaviour);

  const admitted = ['a', 'b', 'c', 'd'].map((p) => send(proxy.url(), `/${p}`));
  await until(() => held.count === 2, 'two requests at the upstream');
  await until(async () => (await bulkheadOf(proxy)).queued === 2, 'two requests queued');
  t.same((await bulkheadOf(proxy)).busiest, [{ key: '(default)', inFlight: 2, queued: 2 }]);

  const refused = await send(proxy.url(), '/e'); // answered while every slot and queue place is taken
  t.equal(refused.status, 503);
  t.equal(refused.headers['x-outrider-error'], 'bulkhead-full');
  t.equal(refused.json().message, 'bulkhead full for route all: 2/2 in flight, 2/2 queued');
  t.equal(upstream.arrived, 2, 'neither the queued nor the refused request reached the upstream');

  held.release();
  await until(() => held.count === 2, 'the two queued requests at the upstream');
  held.release();
  const replies = await Promise.all(admitted);
  t.same(
    replies.map((r) => r.status),
    [200, 200, 200, 200],
  );
  t.equal(held.peak, 2, 'never more than maxConcurrent at the upstream at once');
  t.equal(upstream.arrived, 4);

  await until(async () => (await bulkheadOf(proxy)).inFlight === 0, 'every slot released');
  const metrics = (await proxy.admin('/metrics')).body;
  t.match(metrics, /outrider_bulkhead_rejections_total\{route="all",reason="queue-full"\} 1/);
  t.match(metrics, /outrider_bulkhead_rejections_total\{route="all",reason="queue-timeout"\} 0/);
  t.match(metrics, /outrider_bulkhead_in_flight\{route="all"\} 0/);
  t.match(metrics, /outrider_bulkhead_queued\{route="all"\} 0/);
  t.match(metrics, /outrider_errors_total\{route="all",code="bulkhead-full"\} 1/);
});

t.test('a request waiting longer than queueTimeout is refused and never reaches the upstream', async (t) => {
  const held = holding();
  const { proxy, upstream } = await setUp(t, '{ maxConcurrent: 1, maxQueued: 5, queueTimeout: 100ms }', held.behaviour);
  const first = send(proxy.url(), '/first');
  await until(() => held.count === 1, 'the first request at the upstream');

  const waited = await send(proxy.url(), '/second');
  t.equal(waited.status, 503);
  t.equal(waited.headers['x-outrider-error'], 'bulkhead-full');
  t.equal(waited.json().message, 'bulkhead full for route all: waited 100 ms in the queue (1/1 in flight, 0/5 queued)');
  t.equal(upstream.arrived, 1);
  t.same((await bulkheadOf(proxy)).rejected, { 'queue-full': 0, 'queue-timeout': 1 });

  held.release();
  t.equal((await first).status, 200);
  t.match((await proxy.admin('/metrics')).body, /outrider_bulkhead_rejections_total\{route="all",reason="queue-timeout"\} 1/);
});

t.test("with partitionBy, tenant A saturating its pool leaves tenant B's requests unqueued", async (t) => {
  const held = holding();
  const { proxy, upstream } = await setUp(
    t,
    '{ maxConcurrent: 2, maxQueued: 2, queueTimeout: 30s, partitionBy: "header:x-tenant-id" }',
    holdTenant(held, 'a'),
  );
  const tenant = (id: string) => ({ headers: { 'x-tenant-id': id } });

  const tenantA = [1, 2, 3, 4].map((n) => send(proxy.url(), `/a${n}`, tenant('a')));
  await until(() => held.count === 2, "two of A's requests at the upstream");
  await until(async () => (await bulkheadOf(proxy)).queued === 2, "two of A's requests queued");
  const refusedA = await send(proxy.url(), '/a5', tenant('a'));
  t.equal(refusedA.headers['x-outrider-error'], 'bulkhead-full', "A's fifth request is refused: its pool and queue are full");
  t.match(refusedA.json().message, /\(partition a\): 2\/2 in flight, 2\/2 queued/);

  const tenantB = await Promise.all([1, 2, 3, 4].map((n) => send(proxy.url(), `/b${n}`, tenant('b'))));
  t.same(
    tenantB.map((r) => r.status),
    [200, 200, 200, 200],
    "all of B's requests were answered while A is saturated",
  );
  t.equal(upstream.requests.filter((r) => r.headers['x-tenant-id'] === 'b').length, 4, "all of B's requests reached the upstream");
  const noTenant = await send(proxy.url(), '/none');
  t.equal(noTenant.status, 200, 'a request without the header uses the default partition, not A');

  const during = await bulkheadOf(proxy);
  t.equal(during.partitionBy, 'header:x-tenant-id');
  t.same(during.busiest[0], { key: 'a', inFlight: 2, queued: 2 }, 'the busiest partition is A');
  t.equal(during.partitions, 1, "B's pool was dropped as soon as it was idle");

  held.release();
  await until(() => held.count === 2, "A's queued requests at the upstream");
  held.release();
  t.same(
    (await Promise.all(tenantA)).map((r) => r.status),
    [200, 200, 200, 200],
  );
  await until(async () => (await bulkheadOf(proxy)).partitions === 0, "A's pool to be evicted once idle");
  t.match((await proxy.admin('/metrics')).body, /outrider_bulkhead_partitions\{route="all"\} 0/);
});

t.test('requests without the partition header share the default pool', async (t) => {
  const held = holding();
  const { proxy, upstream } = await setUp(
    t,
    '{ maxConcurrent: 1, maxQueued: 0, partitionBy: "header:x-tenant-id" }',
    (req, res, body) => held.behaviour(req, res, body),
  );
  const first = send(proxy.url(), '/first');
  await until(() => held.count === 1, 'the first request at the upstream');
  const second = await send(proxy.url(), '/second');
  t.equal(second.headers['x-outrider-error'], 'bulkhead-full');
  t.match(second.json().message, /\(partition \(default\)\): 1\/1 in flight, 0\/0 queued/);

  const tenant = send(proxy.url(), '/tenant', { headers: { 'x-tenant-id': 'x' } });
  await until(() => held.count === 2, "the tenant's request at the upstream, beside the default pool's");
  held.release();
  t.same([(await first).status, (await tenant).status], [200, 200]);
  t.equal(upstream.arrived, 2);
});

t.test('the slot is held until the response has been fully written', async (t) => {
  let finishBody: (() => void) | undefined;
  const slowBody: Behaviour = (req, res: ServerResponse) => {
    if (req.url !== '/streaming') return echo(req, res, Buffer.alloc(0));
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.write('first part;');
    finishBody = () => res.end('last part');
  };
  const { proxy } = await setUp(t, '{ maxConcurrent: 1, maxQueued: 0 }', slowBody);

  const streaming = openRequest(proxy.url(), '/streaming');
  const response = await streaming.response;
  const body = new Promise<string>((resolve) => {
    let text = '';
    response.on('data', (c: Buffer) => (text += c.toString()));
    response.on('end', () => resolve(text));
  });
  await until(() => finishBody !== undefined, 'the upstream to start the body');

  const meanwhile = await send(proxy.url(), '/meanwhile');
  t.equal(meanwhile.headers['x-outrider-error'], 'bulkhead-full', 'headers sent but body still streaming: the slot is still taken');

  finishBody?.();
  t.equal(await body, 'first part;last part');
  await until(async () => (await bulkheadOf(proxy)).inFlight === 0, 'the slot released after the body');
  t.equal((await send(proxy.url(), '/after')).status, 200);
});

t.test('a client that goes away while queued frees its place in the queue', async (t) => {
  const held = holding();
  const { proxy, upstream } = await setUp(t, '{ maxConcurrent: 1, maxQueued: 1, queueTimeout: 30s }', held.behaviour);
  const first = send(proxy.url(), '/first');
  await until(() => held.count === 1, 'the first request at the upstream');

  const leaving = openRequest(proxy.url(), '/leaving');
  await until(async () => (await bulkheadOf(proxy)).queued === 1, 'the second request queued');
  leaving.abandon();
  await until(async () => (await bulkheadOf(proxy)).queued === 0, 'the queue to be empty again');

  const third = send(proxy.url(), '/third');
  await until(async () => (await bulkheadOf(proxy)).queued === 1, 'the third request queued, not refused');
  held.release();
  await until(() => held.count === 1, 'the third request at the upstream');
  held.release();
  t.same([(await first).status, (await third).status], [200, 200]);
  t.same(
    upstream.requests.map((r) => r.url),
    ['/first', '/third'],
    'the request that left never reached the upstream',
  );
});

t.test('one slot per client request, held across all its tries', async (t) => {
  const held = holding();
  const upstream = await startUpstream(held.behaviour);
  const proxy = await startSidecar(
    simplePolicy(
      upstream.url,
      '    bulkhead: { maxConcurrent: 1, maxQueued: 0 }\n    retry: { attempts: 3, on: [503], backoff: { base: 1ms, max: 1ms } }\n',
    ),
  );
  t.teardown(async () => {
    await proxy.close();
    await upstream.close();
  });
  const retried = send(proxy.url(), '/retried');
  await until(() => held.count === 1, 'the first try at the upstream');
  held.release(503);
  await until(() => held.count === 1, 'the retry at the upstream');
  t.same([(await bulkheadOf(proxy)).inFlight, upstream.arrived], [1, 2], 'the retry holds the same single slot');
  const other = await send(proxy.url(), '/other');
  t.equal(other.headers['x-outrider-error'], 'bulkhead-full', 'the request between two tries still owns the slot');
  held.release(200);
  const reply = await retried;
  t.same([reply.status, reply.headers['x-outrider-attempts']], [200, '2']);
});
