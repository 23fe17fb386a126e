import type { ServerResponse } from 'node:http';
import t, { type Test } from 'tap';
import { LatencyWindow } from '../../../src/policies/hedge/latency-window.js';
import { holding, until } from '../../helpers/held.js';
import { send } from '../../helpers/http.js';
import { startSidecar, type TestSidecar } from '../../helpers/sidecar.js';
import { delayed, startUpstream, type Behaviour, type TestUpstream } from '../../helpers/upstream.js';

const named =
  (name: string): Behaviour =>
  (_req, res) => {
    res.writeHead(200, { 'x-served-by': name });
    res.end(name);
  };

function policy(endpoints: string[], hedge: string, extra = ''): string {
  return `version: 1
admin: { address: 127.0.0.1:0 }
accessLog: off
listeners: [ { name: outbound, address: 127.0.0.1:0 } ]
upstreams:
  app: { endpoints: [${endpoints.join(', ')}] }
routes:
  - name: h
    match: { pathPrefix: / }
    upstream: app
    timeout: 5s
    hedge: ${hedge}
${extra}`;
}

t.test('a slow try is hedged to the other endpoint, which wins; the loser is aborted', async (t) => {
  // The slow endpoint never answers: a request there can only end by the proxy cutting it.
  const held = holding();
  const slow = await startUpstream(held.behaviour);
  const fast = await startUpstream(named('fast'));
  const proxy = await startSidecar(policy([slow.url, fast.url], '{ delay: 150ms, maxAttempts: 2, budget: { ratio: 1 } }'));
  t.teardown(async () => {
    await proxy.close();
    await slow.close();
    await fast.close();
  });

  const replies = [];
  for (let i = 0; i < 6; i++) replies.push(await send(proxy.url(), `/${i}`));
  t.ok(replies.every((r) => r.status === 200 && r.body === 'fast'), 'every answer came from the fast endpoint');
  const hedged = replies.filter((r) => r.headers['x-outrider-hedged'] === '1').length;
  t.equal(hedged, slow.arrived, 'each request that went to the slow endpoint first was hedged and won by the copy');
  t.ok(hedged >= 2, `${hedged} of 6 requests were hedged (round-robin sends half to the slow one)`);
  await until(() => slow.arrivals.every((a) => a.closed), 'every losing try to be closed at the upstream');
  t.ok(
    slow.arrivals.every((a) => a.aborted),
    'every losing try was aborted at the upstream',
  );
  const hedgedReply = replies.find((r) => r.headers['x-outrider-hedged'] === '1');
  t.equal(hedgedReply?.headers['x-outrider-attempts'], '2', 'the ledger counts both copies');
  const metrics = (await proxy.admin('/metrics')).body;
  t.match(metrics, new RegExp(`outrider_hedge_wins_total\\{route="h"\\} ${hedged}`));
  t.match(metrics, new RegExp(`outrider_tries_total\\{route="h",kind="hedge"\\} ${hedged}`));
});

/**
 * Two endpoints that hold every copy, in order of arrival, until the test answers or resets
 * each one: so a test decides which copy fails, answers or stays in flight, without timing.
 */
async function racing(t: Test, hedge: string, extra = ''): Promise<{ proxy: TestSidecar; copies: { res: ServerResponse; url: string }[]; upstreams: TestUpstream[] }> {
  const copies: { res: ServerResponse; url: string }[] = [];
  const hold: Behaviour = (req, res) => void copies.push({ res, url: req.url ?? '' });
  const upstreams = [await startUpstream(hold), await startUpstream(hold)];
  const proxy = await startSidecar(policy(upstreams.map((u) => u.url), hedge, extra));
  t.teardown(async () => {
    await proxy.close();
    for (const u of upstreams) await u.close();
  });
  return { proxy, copies, upstreams };
}

const RACE = '{ delay: 20ms, maxAttempts: 2, budget: { ratio: 1 } }';
const answer = (res: ServerResponse, code: number, text: string): void => {
  res.writeHead(code, { 'content-type': 'text/plain' });
  res.end(text);
};
const resetCopy = (res: ServerResponse): void => void res.socket?.destroy();

/** Tries in flight at the proxy (all endpoints): drops once the proxy has taken in a copy's answer or failure. */
async function triesInFlight(proxy: TestSidecar): Promise<number> {
  const status = (await proxy.admin('/status')).json() as { upstreams: { endpoints: { inFlight: number }[] }[] };
  return status.upstreams.flatMap((u) => u.endpoints).reduce((n, e) => n + e.inFlight, 0);
}
const oneLeft = (proxy: TestSidecar) => async () => (await triesInFlight(proxy)) === 1;

t.test('hedge errors: a copy that fails while another is in flight waits for it; when all fail, the last error is the answer', async (t) => {
  const { proxy, copies } = await racing(t, RACE);

  const first = send(proxy.url(), '/one-fails');
  await until(() => copies.length === 2, 'the first copy and its hedge to be held');
  resetCopy(copies[0]!.res);
  await until(oneLeft(proxy), 'the proxy to see the first copy fail');
  answer(copies[1]!.res, 200, 'second');
  const won = await first;
  t.equal(won.status, 200, 'the first copy failing does not fail the request while the hedge is in flight');
  t.equal(won.body, 'second');
  t.equal(won.headers['x-outrider-hedged'], '1');

  copies.length = 0;
  const both = send(proxy.url(), '/both-fail');
  await until(() => copies.length === 2, 'both copies to be held');
  resetCopy(copies[0]!.res);
  resetCopy(copies[1]!.res);
  const failed = await both;
  t.equal(failed.status, 502, 'every copy failed: the error is the answer');
  t.equal(failed.headers['x-outrider-error'], 'upstream-reset');
  t.equal(failed.headers['x-outrider-attempts'], '2');
});

t.test('a retryable 5xx is held while another copy is in flight: a better answer wins, else it is passed on', async (t) => {
  // retry.on makes 503 a "retry would retry it" answer; attempts 2 = the two copies, so retry adds none.
  const { proxy, copies, upstreams } = await racing(t, RACE, '    retry: { attempts: 2, on: [503], backoff: { base: 1ms, max: 1ms } }\n');

  // 503 first, then the hedge answers 200: the 200 wins, the held 503 is dropped.
  const better = send(proxy.url(), '/better');
  await until(() => copies.length === 2, 'both copies to be held');
  answer(copies[0]!.res, 503, 'first-503');
  await until(oneLeft(proxy), 'the proxy to take in the 503');
  answer(copies[1]!.res, 200, 'second-200');
  const won = await better;
  t.equal(won.status, 200, 'the 503 did not win while the hedge was in flight');
  t.equal(won.body, 'second-200');

  // 503 first, then the hedge fails: the held 503 is the answer, the upstream's own.
  copies.length = 0;
  const fallback = send(proxy.url(), '/fallback');
  await until(() => copies.length === 2, 'both copies to be held');
  answer(copies[0]!.res, 503, 'first-503');
  await until(oneLeft(proxy), 'the proxy to take in the 503');
  resetCopy(copies[1]!.res);
  const passed = await fallback;
  t.equal(passed.status, 503, 'the held 503 is passed on when nothing better arrives');
  t.equal(passed.body, 'first-503', 'with its own body');
  t.equal(passed.headers['x-outrider-error'], undefined, 'the upstream answer, not a sidecar error');

  // 503 first, then the hedge answers 503 too: the last one is passed on, the held one dropped.
  copies.length = 0;
  const worse = send(proxy.url(), '/both-503');
  await until(() => copies.length === 2, 'both copies to be held');
  answer(copies[0]!.res, 503, 'first-503');
  await until(oneLeft(proxy), 'the proxy to take in the first 503');
  answer(copies[1]!.res, 503, 'second-503');
  const last = await worse;
  t.equal(last.status, 503);
  t.equal(last.body, 'second-503', 'with nothing in flight any more, the last 503 is the answer');
  t.equal(upstreams[0]!.arrived + upstreams[1]!.arrived, 6, 'two copies per request, no retry on top');
});

t.test('POST is not hedged by default', async (t) => {
  const slow = await startUpstream(delayed(200, named('slow')));
  const other = await startUpstream(named('other'));
  const proxy = await startSidecar(policy([slow.url, other.url], '{ delay: 10ms, budget: { ratio: 1 } }', '    # round-robin: the first request goes to the second endpoint\n'));
  t.teardown(async () => {
    await proxy.close();
    await slow.close();
    await other.close();
  });
  for (let i = 0; i < 4; i++) {
    const reply = await send(proxy.url(), `/p${i}`, { method: 'POST', body: 'x' });
    t.equal(reply.headers['x-outrider-hedged'], undefined);
  }
  t.equal(slow.arrived + other.arrived, 4, 'one try per POST');
});

t.test('the hedge budget caps copies', async (t) => {
  const a = await startUpstream(delayed(60, named('a')));
  const b = await startUpstream(delayed(60, named('b')));
  const proxy = await startSidecar(policy([a.url, b.url], '{ delay: 5ms, budget: { ratio: 0.1 } }'));
  t.teardown(async () => {
    await proxy.close();
    await a.close();
    await b.close();
  });
  const requests = 30;
  for (let i = 0; i < requests; i++) await send(proxy.url(), `/${i}`);
  const copies = a.arrived + b.arrived - requests;
  t.ok(copies <= 0.1 * requests + 1, `${copies} hedges for ${requests} requests with ratio 0.1`);
  t.ok(copies >= 1, 'some were allowed');
  const metrics = (await proxy.admin('/metrics')).body;
  t.match(metrics, /outrider_budget_exhausted_total\{route="h",budget="hedge"\} [1-9]/);
});

t.test('retry.attempts bounds hedge copies too', async (t) => {
  const a = await startUpstream(delayed(150, named('a')));
  const b = await startUpstream(delayed(150, named('b')));
  const c = await startUpstream(delayed(150, named('c')));
  const proxy = await startSidecar(
    policy([a.url, b.url, c.url], '{ delay: 5ms, maxAttempts: 3, budget: { ratio: 1 } }', '    retry: { attempts: 2, on: [503] }\n'),
  );
  t.teardown(async () => {
    await proxy.close();
    await a.close();
    await b.close();
    await c.close();
  });
  const reply = await send(proxy.url(), '/x');
  t.equal(reply.status, 200);
  t.equal(a.arrived + b.arrived + c.arrived, 2, 'two tries in all, though maxAttempts is 3');
});

t.test('adaptive delay: /status shows the route p95 once warmed up', async (t) => {
  const up = await startUpstream(delayed(15, named('u')));
  const proxy = await startSidecar(policy([up.url], '{ delay: p95, minDelay: 2ms }'));
  t.teardown(async () => {
    await proxy.close();
    await up.close();
  });
  const before = (await proxy.admin('/status')).json() as { routes: { hedge: { delayMs: number | null } }[] };
  t.equal(before.routes[0]?.hedge.delayMs, null, 'no delay before there is data');
  for (let i = 0; i < 25; i++) await send(proxy.url(), `/${i}`);
  const after = (await proxy.admin('/status')).json() as { routes: { hedge: { delayMs: number; samples: number } }[] };
  t.ok(after.routes[0]!.hedge.delayMs >= 15, `delay follows the observed latency: ${after.routes[0]?.hedge.delayMs} ms`);
  t.equal(after.routes[0]?.hedge.samples, 25);
});

t.test('LatencyWindow follows a shifted distribution', async (t) => {
  let now = 0;
  const window = new LatencyWindow(10_000, { now: () => now });
  for (let i = 0; i < 100; i++) window.record(5);
  t.ok(Math.abs((window.percentile(95) ?? 0) - 5) < 0.2, 'p95 of a 5 ms upstream is 5 ms');
  now += 10_001;
  for (let i = 0; i < 100; i++) window.record(50);
  now += 300; // past the cache refresh
  t.ok((window.percentile(95) ?? 0) > 45, 'after the shift p95 follows the slower upstream');
  now += 10_001;
  for (let i = 0; i < 30; i++) window.record(50);
  now += 300;
  t.ok((window.percentile(50) ?? 0) > 45, 'once the old period rotates out, even p50 is the new latency');
  now += 30_000;
  window.record(1);
  t.equal(window.percentile(50), undefined, 'after a long silence the window starts empty (too few samples)');
});

