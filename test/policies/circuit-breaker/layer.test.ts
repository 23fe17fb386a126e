/**
 * The circuit breaker through a real sidecar and real upstreams on 127.0.0.1. Everything is
 * asserted by counts (requests the upstream saw, probes admitted, breaker state on /status),
 * never by durations. Only half-open needs time to pass: those tests use a short `openFor`
 * and wait until /status reports half-open.
 */
import t, { type Test } from 'tap';
import { send, type Reply } from '../../helpers/http.js';
import { holding, until } from '../../helpers/held.js';
import { simplePolicy, startSidecar, type TestSidecar } from '../../helpers/sidecar.js';
import { closedPort, delayed, echo, startUpstream, status, type TestUpstream } from '../../helpers/upstream.js';

interface BreakerStatus {
  upstream: string;
  state: string;
  calls: number;
  failures: number;
  secondsUntilHalfOpen: number;
  probes?: { allowed: number; inFlight: number; succeeded: number };
  lastOpened?: string;
}

/** One catch-all route `all` to upstream `app` with the given circuitBreaker block (flow style). */
function withBreaker(url: string, breaker: string): string {
  return simplePolicy(url, `    circuitBreaker: ${breaker}\n`);
}

async function breakerOf(proxy: TestSidecar): Promise<BreakerStatus> {
  const status = (await proxy.admin('/status')).json() as { routes: { name: string; circuitBreaker?: BreakerStatus }[] };
  const breaker = status.routes.find((r) => r.name === 'all')?.circuitBreaker;
  if (breaker === undefined) throw new Error('route all shows no circuitBreaker on /status');
  return breaker;
}

async function sendMany(proxy: TestSidecar, n: number): Promise<Reply[]> {
  const replies: Reply[] = [];
  for (let i = 0; i < n; i++) replies.push(await send(proxy.url(), `/r${i}`));
  return replies;
}

async function setUp(t: Test, breaker: string, upstream?: TestUpstream): Promise<{ proxy: TestSidecar; upstream: TestUpstream }> {
  const up = upstream ?? (await startUpstream(status(503)));
  const proxy = await startSidecar(withBreaker(up.url, breaker));
  t.teardown(async () => {
    await proxy.close();
    await up.close();
  });
  return { proxy, upstream: up };
}

const OPENS_AFTER_4 = '{ failureRatio: 0.5, minRequests: 4, window: 10s, openFor: 30s, halfOpenRequests: 2 }';

t.test('stays closed below minRequests, opens at the ratio, then answers without the upstream', async (t) => {
  const { proxy, upstream } = await setUp(t, OPENS_AFTER_4);

  const first = await sendMany(proxy, 3);
  t.same(
    first.map((r) => r.status),
    [503, 503, 503],
  );
  t.equal(first[0]?.headers['x-outrider-error'], undefined, "the upstream's own 503 passes through");
  t.equal((await breakerOf(proxy)).state, 'closed', '3 failures of 3 calls stay below minRequests 4');

  await send(proxy.url(), '/fourth');
  const opened = await breakerOf(proxy);
  t.equal(opened.state, 'open', 'the 4th failure reaches minRequests at ratio 1 ≥ 0.5');
  t.ok(opened.secondsUntilHalfOpen > 0 && opened.secondsUntilHalfOpen <= 30);
  t.match(opened.lastOpened, /4 of 4 calls failed/);
  t.equal(upstream.arrived, 4);

  const refused = await sendMany(proxy, 5);
  for (const reply of refused) {
    t.equal(reply.status, 503);
    t.equal(reply.headers['x-outrider-error'], 'circuit-open');
  }
  const retryAfter = Number(refused[0]?.headers['retry-after']);
  t.ok(Number.isInteger(retryAfter) && retryAfter >= 1 && retryAfter <= 30, `retry-after is the seconds until half-open (${retryAfter})`);
  const body = refused[0]?.json<{ error: string; route: string; upstream: string; message: string }>();
  t.equal(body?.error, 'circuit-open');
  t.equal(body?.route, 'all');
  t.equal(body?.upstream, 'app');
  t.match(body?.message, /route all, upstream app: circuit open \(4 of 4 calls failed .*\); half-open in [0-9.]+ s/);
  t.equal(upstream.arrived, 4, 'no refused request reached the upstream');

  const metrics = (await proxy.admin('/metrics')).body;
  t.match(metrics, /outrider_circuit_breaker_state\{route="all",upstream="app",state="open"\} 1/);
  t.match(metrics, /outrider_circuit_breaker_state\{route="all",upstream="app",state="closed"\} 0/);
  t.match(metrics, /outrider_circuit_breaker_transitions_total\{route="all",upstream="app",from="closed",to="open"\} 1/);
  t.match(metrics, /outrider_errors_total\{route="all",code="circuit-open"\} 5/);

  await until(() => proxy.accessLog.lines.length >= 9, 'the access log lines');
  const refusedLine = proxy.accessLog.lines.find((l) => l.errorCode === 'circuit-open');
  t.equal(refusedLine?.breakerState, 'open', 'the access log shows the breaker state');
  t.equal(proxy.accessLog.lines[0]?.breakerState, 'closed');
});

t.test('below the ratio it stays closed', async (t) => {
  const upstream = await startUpstream(echo);
  const { proxy } = await setUp(t, '{ failureRatio: 0.5, minRequests: 4 }', upstream);
  upstream.behave(status(500));
  await send(proxy.url(), '/fail');
  upstream.behave(echo);
  await sendMany(proxy, 5);
  const breaker = await breakerOf(proxy);
  t.same([breaker.state, breaker.calls, breaker.failures], ['closed', 6, 1]);
});

t.test('4xx never count as failures', async (t) => {
  const { proxy, upstream } = await setUp(t, OPENS_AFTER_4, await startUpstream(status(404)));
  const replies = await sendMany(proxy, 10);
  t.ok(replies.every((r) => r.status === 404));
  const breaker = await breakerOf(proxy);
  t.same([breaker.state, breaker.calls, breaker.failures], ['closed', 10, 0], '4xx are calls, not failures');
  t.equal(upstream.arrived, 10);
});

t.test('a failure class left out of failOn does not count', async (t) => {
  const { proxy } = await setUp(t, '{ minRequests: 2, failOn: [connect-failure] }');
  await sendMany(proxy, 4);
  const breaker = await breakerOf(proxy);
  t.same([breaker.state, breaker.failures], ['closed', 0], '503 is not a failure when failOn lists only connect-failure');
});

t.test('connect failures count: an unreachable upstream opens the breaker', async (t) => {
  const port = await closedPort();
  const proxy = await startSidecar(withBreaker(`http://127.0.0.1:${port}`, '{ minRequests: 3, openFor: 30s }'));
  t.teardown(() => proxy.close());
  const replies = await sendMany(proxy, 4);
  t.same(
    replies.map((r) => r.headers['x-outrider-error']),
    ['upstream-unreachable', 'upstream-unreachable', 'upstream-unreachable', 'circuit-open'],
  );
});

t.test('slow calls count as failures even when they answer 200', async (t) => {
  const upstream = await startUpstream(delayed(150));
  const { proxy } = await setUp(t, '{ minRequests: 3, slowCall: 20ms, openFor: 30s }', upstream);
  const replies = await sendMany(proxy, 3);
  t.ok(
    replies.every((r) => r.status === 200),
    'the slow answers still reach the client',
  );
  t.equal((await breakerOf(proxy)).state, 'open');
  t.equal((await send(proxy.url(), '/next')).headers['x-outrider-error'], 'circuit-open');
  t.equal(upstream.arrived, 3);
});

/** Open the breaker (4 failures), then wait until /status reports half-open. */
async function openThenHalfOpen(t: Test, proxy: TestSidecar): Promise<void> {
  await sendMany(proxy, 4);
  t.not((await breakerOf(proxy)).state, 'closed', 'four failures opened it');
  await until(async () => (await breakerOf(proxy)).state === 'half-open', 'half-open');
}

/** Three probes; `openFor` short enough to wait for, long enough that a test sees `open` before it passes. */
const halfOpen3 = (openFor: string): string => `{ failureRatio: 0.5, minRequests: 4, openFor: ${openFor}, halfOpenRequests: 3 }`;

t.test('half-open lets exactly halfOpenRequests probes through and closes when they all succeed', async (t) => {
  const held = holding();
  const { proxy, upstream } = await setUp(t, halfOpen3('300ms'));
  await openThenHalfOpen(t, proxy);
  upstream.behave(held.behaviour);

  const replies = Array.from({ length: 5 }, (_, i) => send(proxy.url(), `/probe${i}`));
  await until(() => held.count === 3, 'three probes at the upstream');
  const breaker = await breakerOf(proxy);
  t.equal(breaker.state, 'half-open');
  t.same(breaker.probes, { allowed: 3, inFlight: 3, succeeded: 0 });
  const extra = await send(proxy.url(), '/extra');
  t.equal(extra.headers['x-outrider-error'], 'circuit-open', 'a request beyond the probes is refused as open');

  held.release(200);
  const statuses = (await Promise.all(replies)).map((r) => r.status).sort();
  t.same(statuses, [200, 200, 200, 503, 503], 'three probes answered, two refused');
  t.equal(upstream.arrived, 4 + 3, 'exactly three probes reached the upstream');
  t.equal((await breakerOf(proxy)).state, 'closed');
  upstream.behave(echo);
  t.equal((await send(proxy.url(), '/after')).status, 200, 'closed again: requests flow');

  const metrics = (await proxy.admin('/metrics')).body;
  t.match(metrics, /outrider_circuit_breaker_transitions_total\{route="all",upstream="app",from="open",to="half-open"\} 1/);
  t.match(metrics, /outrider_circuit_breaker_transitions_total\{route="all",upstream="app",from="half-open",to="closed"\} 1/);
});

t.test('a failed probe reopens the breaker', async (t) => {
  const held = holding();
  const { proxy, upstream } = await setUp(t, halfOpen3('1s'));
  await openThenHalfOpen(t, proxy);
  upstream.behave(held.behaviour);

  const probes = Array.from({ length: 3 }, (_, i) => send(proxy.url(), `/probe${i}`));
  await until(() => held.count === 3, 'three probes at the upstream');
  held.release(503, (req) => req.url === '/probe1');
  await until(async () => (await breakerOf(proxy)).state === 'open', 'the breaker to reopen');
  const breaker = await breakerOf(proxy);
  t.equal(breaker.lastOpened, 'a half-open probe failed');
  t.equal((await send(proxy.url(), '/refused')).headers['x-outrider-error'], 'circuit-open');

  held.release(200);
  await Promise.all(probes);
  t.equal((await breakerOf(proxy)).state, 'open', 'the other probes, answered after it reopened, change nothing');
  t.equal(upstream.arrived, 4 + 3);
});

t.test('breaker state survives a reload that leaves the route unchanged, and resets when its settings change', async (t) => {
  const { proxy, upstream } = await setUp(t, OPENS_AFTER_4);
  await sendMany(proxy, 4);
  t.equal((await breakerOf(proxy)).state, 'open');

  const unchanged = withBreaker(upstream.url, OPENS_AFTER_4);
  proxy.rewrite(`${unchanged}  - name: other\n    match: { pathPrefix: /other-route }\n    upstream: app\n`);
  t.same(await proxy.sidecar.reload(), { result: 'applied' });
  t.equal((await breakerOf(proxy)).state, 'open', 'the unchanged route kept its open breaker');
  t.equal((await send(proxy.url(), '/still-refused')).headers['x-outrider-error'], 'circuit-open');
  t.equal(upstream.arrived, 4);

  proxy.rewrite(withBreaker(upstream.url, OPENS_AFTER_4.replace('minRequests: 4', 'minRequests: 5')));
  t.same(await proxy.sidecar.reload(), { result: 'applied' });
  t.equal((await breakerOf(proxy)).state, 'closed', 'changed settings start a fresh breaker');
  t.equal((await send(proxy.url(), '/reaches')).status, 503);
  t.equal(upstream.arrived, 5);
  const metrics = (await proxy.admin('/metrics')).body;
  t.match(metrics, /outrider_circuit_breaker_state\{route="all",upstream="app",state="closed"\} 1/, 'the gauge follows the new breaker');
});

t.test('inside retry the breaker records every try, and circuit-open is never retried', async (t) => {
  const upstream = await startUpstream(status(503));
  const proxy = await startSidecar(
    simplePolicy(upstream.url, '    retry: { attempts: 3, on: [503], backoff: { base: 1ms, max: 1ms } }\n    circuitBreaker: { minRequests: 2, openFor: 30s }\n'),
  );
  t.teardown(async () => {
    await proxy.close();
    await upstream.close();
  });
  const first = await send(proxy.url(), '/first');
  t.equal(upstream.arrived, 2, 'two tries reached the upstream; they opened the breaker');
  t.equal(first.headers['x-outrider-error'], 'circuit-open', 'the third try was refused, and retry stopped there');
  const second = await send(proxy.url(), '/second');
  t.equal(second.headers['x-outrider-error'], 'circuit-open');
  t.equal(upstream.arrived, 2, 'a refused try is not retried');
});

t.test('a hedge copy that lost is not recorded as a failure', async (t) => {
  const held = holding();
  const upstream = await startUpstream((req, res, body) =>
    req.headers['x-outrider-attempt'] === '1' ? held.behaviour(req, res, body) : echo(req, res, body),
  );
  const proxy = await startSidecar(simplePolicy(upstream.url, '    hedge: { delay: 20ms, maxAttempts: 2 }\n    circuitBreaker: { minRequests: 1 }\n'));
  t.teardown(async () => {
    await proxy.close();
    await upstream.close();
  });
  const reply = await send(proxy.url(), '/hedged');
  t.same([reply.status, reply.headers['x-outrider-hedged']], [200, '1'], 'the hedge copy won');
  await until(() => held.count === 0, 'the losing copy to be aborted at the upstream');
  const breaker = await breakerOf(proxy);
  t.same([breaker.state, breaker.calls, breaker.failures], ['closed', 1, 0], 'only the winner was recorded; minRequests 1 would have opened on a failure');
});
