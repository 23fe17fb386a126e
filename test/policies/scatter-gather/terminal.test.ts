/**
 * Scatter-gather through a real sidecar and real upstreams on 127.0.0.1: exact aggregated
 * bodies, path templates, allEndpoints fan-out, require all/any/quorum, partial answers,
 * per-target timeouts, aborts seen by the upstream, and the visibility on /metrics, /status and
 * the access log. Asserted by counts and bodies; the only waits are for an abort to arrive.
 */
import type { ServerResponse } from 'node:http';
import t, { type Test } from 'tap';
import { loadPolicyText } from '../../../src/config/load.js';
import { formatIssue } from '../../../src/config/types.js';
import { send } from '../../helpers/http.js';
import { startSidecar, type TestSidecar } from '../../helpers/sidecar.js';
import { delayed, echo, largeBody, startUpstream, status, type Behaviour, type TestUpstream } from '../../helpers/upstream.js';

/** Answers `value` as JSON. */
const json =
  (value: unknown, code = 200): Behaviour =>
  (_req, res) => {
    res.writeHead(code, { 'content-type': 'application/json' });
    res.end(JSON.stringify(value));
  };

const text =
  (body: string, type = 'text/plain'): Behaviour =>
  (_req, res) => {
    res.writeHead(200, { 'content-type': type });
    res.end(body);
  };

/** Counts responses closed before they were finished: requests the sidecar aborted. */
function abortCounter(): { readonly count: number; watch(res: ServerResponse): void } {
  let count = 0;
  return {
    get count() {
      return count;
    },
    watch(res) {
      res.on('close', () => (count += res.writableFinished ? 0 : 1));
    },
  };
}

/** A sidecar with one upstream per entry (name → endpoint URLs) and one scatter route. */
function policy(upstreams: Record<string, readonly TestUpstream[]>, scatter: string, route = ''): string {
  const lines = Object.entries(upstreams).map(([name, ups]) => `  ${name}: { endpoints: [${ups.map((u) => u.url).join(', ')}] }`);
  return `version: 1
admin: { address: 127.0.0.1:0 }
listeners: [ { name: outbound, address: 127.0.0.1:0 } ]
upstreams:
${lines.join('\n')}
routes:
  - name: sg
    match: { pathPrefix: /product/ }
    timeout: 5s
${route}    scatterGather:
${scatter}`;
}

async function setUp(t: Test, upstreams: Record<string, readonly TestUpstream[]>, scatter: string, route = ''): Promise<TestSidecar> {
  const proxy = await startSidecar(policy(upstreams, scatter, route));
  t.teardown(async () => {
    await proxy.close();
    for (const ups of Object.values(upstreams)) for (const u of ups) await u.close();
  });
  return proxy;
}

async function until(condition: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 200 && !condition(); i++) await new Promise((r) => setTimeout(r, 10));
  if (!condition()) throw new Error(`timed out waiting for ${what}`);
}

t.test('group: every answer under its target name; JSON parsed, text kept as a string, 4xx included', async (t) => {
  const details = await startUpstream(json({ id: 42, name: 'lamp' }));
  const reviews = await startUpstream(json({ error: 'no reviews' }, 404));
  const legal = await startUpstream(text('all rights reserved'));
  const empty = await startUpstream(status(204));
  const proxy = await setUp(
    t,
    { details: [details], reviews: [reviews], legal: [legal], empty: [empty] },
    `      targets:
        - { name: details, upstream: details }
        - { name: reviews, upstream: reviews }
        - { name: legal, upstream: legal }
        - { name: empty, upstream: empty }
      aggregate: group
`,
  );
  const reply = await send(proxy.url(), '/product/42');
  t.equal(reply.status, 200);
  t.equal(reply.headers['content-type'], 'application/json');
  t.equal(reply.headers['x-outrider-partial'], undefined, 'nothing failed');
  t.equal(reply.headers['x-outrider-attempts'], '4', 'one try per call');
  t.equal(reply.body, JSON.stringify({ details: { id: 42, name: 'lamp' }, reviews: { error: 'no reviews' }, legal: 'all rights reserved', empty: null }));
});

t.test('merge: deep merge in target order, later targets win, arrays replaced', async (t) => {
  const a = await startUpstream(json({ id: 1, price: { amount: 10, currency: 'EUR' }, tags: ['x', 'y'], only: 'a' }));
  const b = await startUpstream(delayed(30, json({ price: { amount: 12 }, tags: ['z'], stock: 3 })));
  const proxy = await setUp(
    t,
    { a: [a], b: [b] },
    `      targets: [ { name: a, upstream: a }, { name: b, upstream: b } ]
      aggregate: merge
`,
  );
  const reply = await send(proxy.url(), '/product/1');
  t.equal(reply.status, 200);
  t.equal(reply.body, JSON.stringify({ id: 1, price: { amount: 12, currency: 'EUR' }, tags: ['z'], only: 'a', stock: 3 }), 'b answered last but merges in target order');
});

t.test('concat with allEndpoints: one call per shard, hits joined, sorted, limited', async (t) => {
  const hits = [
    [{ id: 'a1', score: 0.5 }, { id: 'a2', score: 0.9 }],
    [{ id: 'b1', score: 0.7 }, { id: 'b2' }],
    [{ id: 'c1', score: 0.95 }, { id: 'c2', score: 0.1 }],
  ];
  const shards = await Promise.all(hits.map((h) => startUpstream(json({ result: { hits: h }, took: 3 }))));
  const proxy = await setUp(
    t,
    { shards },
    `      targets: [ { name: search, upstream: shards, allEndpoints: true, path: "/search" } ]
      aggregate: concat
      concat: { field: result.hits, sortBy: score, order: desc, limit: 5 }
`,
  );
  const reply = await send(proxy.url(), '/product/find?q=lamp');
  t.equal(reply.status, 200);
  t.same(reply.json(), {
    result: {
      hits: [
        { id: 'c1', score: 0.95 },
        { id: 'a2', score: 0.9 },
        { id: 'b1', score: 0.7 },
        { id: 'a1', score: 0.5 },
        { id: 'c2', score: 0.1 },
      ],
    },
  });
  t.same(
    shards.map((s) => s.requests.map((r) => r.url)),
    [['/search?q=lamp'], ['/search?q=lamp'], ['/search?q=lamp']],
    'every endpoint got exactly one call',
  );
  t.equal(reply.headers['x-outrider-attempts'], '3');

  // require counts targets: a fanned-out target succeeds when any of its shards answered.
  shards[1]?.behave(status(503));
  const partial = await send(proxy.url(), '/product/find');
  t.equal(partial.status, 200, 'require: all is met by the one target, with two of three shards');
  t.equal(partial.headers['x-outrider-partial'], 'search[1]');
  t.same(partial.json<{ _errors: unknown }>()._errors, { 'search[1]': { error: 'upstream-status', status: 503, message: 'answered 503' } });

  for (const shard of shards) shard.behave(status(503));
  const failed = await send(proxy.url(), '/product/find');
  t.equal(failed.status, 502, 'every shard failed: the target failed');
  t.same(Object.keys(failed.json<{ targets: object }>().targets), ['search[0]', 'search[1]', 'search[2]']);
  t.same(
    shards.map((s) => s.requests.length),
    [3, 3, 3],
    'every endpoint got exactly one call per request',
  );
});

t.test('concat: ascending, unsorted order, and a body without the array fails that target', async (t) => {
  const one = await startUpstream(json({ hits: [3, 1] }));
  const two = await startUpstream(json({ hits: [2] }));
  const bad = await startUpstream(json({ items: [] }));
  const proxy = await setUp(
    t,
    { one: [one], two: [two], bad: [bad] },
    `      targets: [ { name: one, upstream: one }, { name: two, upstream: two }, { name: bad, upstream: bad } ]
      require: 2
      aggregate: concat
      concat: { field: hits }
`,
  );
  const reply = await send(proxy.url(), '/product/x');
  t.equal(reply.status, 200);
  t.equal(reply.headers['x-outrider-partial'], 'bad');
  t.same(reply.json(), { hits: [3, 1, 2], _errors: { bad: { error: 'bad-body', status: 200, message: 'concat needs an array at hits; found nothing' } } });
});

t.test('path templates: {path}, {suffix}, {query}; no template keeps path and query', async (t) => {
  const ups = await Promise.all([0, 1, 2, 3, 4].map(() => startUpstream(json({}))));
  const [suffix, query, path, keep, both] = ups as [TestUpstream, TestUpstream, TestUpstream, TestUpstream, TestUpstream];
  const proxy = await setUp(
    t,
    { suffix: [suffix], query: [query], path: [path], keep: [keep], both: [both] },
    `      targets:
        - { name: suffix, upstream: suffix, path: "/details/{suffix}" }
        - { name: query, upstream: query, path: "/search?{query}" }
        - { name: path, upstream: path, path: "/v2{path}" }
        - { name: keep, upstream: keep }
        - { name: both, upstream: both, path: "/s/{suffix}?src=sg&{query}" }
`,
  );
  t.equal((await send(proxy.url(), '/product/42?lang=en&x=1')).status, 200);
  t.equal((await send(proxy.url(), '/product/7')).status, 200);
  t.same(suffix.requests.map((r) => r.url), ['/details/42?lang=en&x=1', '/details/7'], 'a template without {query} or ? keeps the query');
  t.same(query.requests.map((r) => r.url), ['/search?lang=en&x=1', '/search'], 'an empty {query} leaves no dangling ?');
  t.same(path.requests.map((r) => r.url), ['/v2/product/42?lang=en&x=1', '/v2/product/7']);
  t.same(keep.requests.map((r) => r.url), ['/product/42?lang=en&x=1', '/product/7']);
  t.same(both.requests.map((r) => r.url), ['/s/42?src=sg&lang=en&x=1', '/s/7?src=sg']);
});

t.test("the client's method, headers and body reach every target", async (t) => {
  const a = await startUpstream(echo);
  const b = await startUpstream(echo);
  const proxy = await setUp(t, { a: [a], b: [b] }, `      targets: [ { name: a, upstream: a }, { name: b, upstream: b } ]\n`);
  const reply = await send(proxy.url(), '/product/9', { method: 'POST', body: 'hello scatter', headers: { 'x-tenant': 't1', 'content-type': 'text/plain' } });
  t.equal(reply.status, 200);
  for (const up of [a, b]) {
    const seen = up.requests[0];
    t.equal(seen?.method, 'POST');
    t.equal(seen?.bodyBytes, 13);
    t.equal(seen?.headers['x-tenant'], 't1');
    t.equal(seen?.headers['x-outrider-attempt'], '1', 'each call is a first try');
  }
  const body = reply.json<Record<string, { bodyBytes: number }>>();
  t.equal(body.a?.bodyBytes, 13);
  t.equal(body.b?.bodyBytes, 13);
});

t.test('require: all fails with 502 and the per-target errors', async (t) => {
  const ok = await startUpstream(json({ ok: true }));
  const broken = await startUpstream(status(500, 'boom'));
  const proxy = await setUp(t, { ok: [ok], broken: [broken] }, `      targets: [ { name: ok, upstream: ok }, { name: broken, upstream: broken } ]\n`);
  const reply = await send(proxy.url(), '/product/1');
  t.equal(reply.status, 502);
  t.equal(reply.headers['x-outrider-error'], 'upstream-unreachable');
  const body = reply.json<{ error: string; route: string; upstream: string; message: string; targets: unknown }>();
  t.equal(body.error, 'upstream-unreachable');
  t.equal(body.route, 'sg');
  t.equal(body.upstream, 'scatter-gather');
  t.equal(body.message, 'route sg: scatter-gather needed all of 2 targets to succeed (broken: upstream-status)');
  t.same(body.targets, { broken: { error: 'upstream-status', status: 500, message: 'answered 500' } });
});

t.test('quorum: a partial answer names the failed targets in x-outrider-partial and _errors', async (t) => {
  const a = await startUpstream(json({ a: 1 }));
  const b = await startUpstream(json({ b: 2 }));
  const c = await startUpstream(status(503));
  const proxy = await setUp(
    t,
    { a: [a], b: [b], c: [c] },
    `      targets: [ { name: a, upstream: a }, { name: b, upstream: b }, { name: c, upstream: c } ]
      require: 2
      aggregate: merge
`,
  );
  const reply = await send(proxy.url(), '/product/1');
  t.equal(reply.status, 200);
  t.equal(reply.headers['x-outrider-partial'], 'c');
  t.same(reply.json(), { a: 1, b: 2, _errors: { c: { error: 'upstream-status', status: 503, message: 'answered 503' } } });

  b.behave(status(502));
  const failed = await send(proxy.url(), '/product/1');
  t.equal(failed.status, 502, 'one success is below the quorum of 2');
  t.same(Object.keys(failed.json<{ targets: object }>().targets), ['b', 'c']);
});

t.test('merge: a non-JSON body fails its target; with a quorum the rest still answers', async (t) => {
  const a = await startUpstream(json({ a: 1 }));
  const html = await startUpstream(text('<html></html>', 'text/html'));
  const proxy = await setUp(
    t,
    { a: [a], html: [html] },
    `      targets: [ { name: a, upstream: a }, { name: html, upstream: html } ]
      require: 1
      aggregate: merge
`,
  );
  const reply = await send(proxy.url(), '/product/1');
  t.equal(reply.status, 200);
  t.equal(reply.headers['x-outrider-partial'], 'html');
  t.same(reply.json(), { a: 1, _errors: { html: { error: 'bad-body', status: 200, message: 'merge needs a JSON object; the body is not JSON ("<html></html>")' } } });
});

t.test("a slow target past its own timeout: partial with a quorum, 504 with all; the upstream sees the abort", async (t) => {
  const aborts = abortCounter();
  const fast = await startUpstream(json({ fast: true }));
  const slow = await startUpstream((req, res, body) => {
    aborts.watch(res);
    delayed(3_000, json({ slow: true }))(req, res, body);
  });
  const targets = `      targets: [ { name: fast, upstream: fast }, { name: slow, upstream: slow, timeout: 100ms } ]\n`;
  const proxy = await setUp(t, { fast: [fast], slow: [slow] }, `${targets}      require: 1\n`);

  const partial = await send(proxy.url(), '/product/1');
  t.equal(partial.status, 200);
  t.equal(partial.headers['x-outrider-partial'], 'slow');
  t.same(partial.json(), {
    fast: { fast: true },
    _errors: { slow: { error: 'timeout', message: 'target slow of route sg timed out after 100 ms' } },
  });
  await until(() => aborts.count === 1, 'the slow upstream to see the abort');

  proxy.rewrite(policy({ fast: [fast], slow: [slow] }, `${targets}      require: all\n`));
  await proxy.sidecar.reload();
  const failed = await send(proxy.url(), '/product/1');
  t.equal(failed.status, 504);
  t.equal(failed.headers['x-outrider-error'], 'timeout');
  t.same(failed.json<{ targets: unknown }>().targets, { slow: { error: 'timeout', message: 'target slow of route sg timed out after 100 ms' } });
});

t.test('all: the first target failure decides; the pending calls are aborted at once', async (t) => {
  const aborts = abortCounter();
  const slow = await startUpstream((req, res, body) => {
    aborts.watch(res);
    delayed(3_000, json({ slow: true }))(req, res, body);
  });
  const broken = await startUpstream(status(500));
  const proxy = await setUp(t, { slow: [slow], broken: [broken] }, `      targets: [ { name: slow, upstream: slow }, { name: broken, upstream: broken } ]\n`);
  const reply = await send(proxy.url(), '/product/1');
  t.equal(reply.status, 502);
  t.same(reply.json<{ targets: unknown }>().targets, {
    slow: { error: 'cancelled', message: 'not awaited: the outcome was already decided' },
    broken: { error: 'upstream-status', status: 500, message: 'answered 500' },
  });
  await until(() => aborts.count === 1, 'the slow upstream to see the abort');
});

t.test('504 only when timeouts made the difference; the route timeout bounds targets without their own', async (t) => {
  const ok = await startUpstream(json({ ok: true }));
  const broken = await startUpstream(status(500));
  const slow = await startUpstream(delayed(3_000));
  const upstreams = { ok: [ok], broken: [broken], slow: [slow] };
  const targets = `      targets: [ { name: ok, upstream: ok }, { name: broken, upstream: broken }, { name: slow, upstream: slow } ]\n`;
  const shortRoute = (scatter: string): string => policy(upstreams, scatter).replace('timeout: 5s', 'timeout: 200ms');
  const proxy = await startSidecar(shortRoute(`${targets}      require: 2\n`));
  t.teardown(async () => {
    await proxy.close();
    for (const u of [ok, broken, slow]) await u.close();
  });
  const reply = await send(proxy.url(), '/product/1');
  t.equal(reply.status, 504, 'without the timeout, ok and slow would have met the quorum of 2');
  t.same(reply.json<{ targets: unknown }>().targets, {
    broken: { error: 'upstream-status', status: 500, message: 'answered 500' },
    slow: { error: 'timeout', message: 'route sg timed out after 200 ms' },
  });

  proxy.rewrite(shortRoute(`${targets}      require: 1\n`));
  await proxy.sidecar.reload();
  const partial = await send(proxy.url(), '/product/1');
  t.equal(partial.status, 200, 'the route deadline cut the slow target; the quorum of 1 was met');
  t.equal(partial.headers['x-outrider-partial'], 'broken, slow');
});

t.test('any: the first success answers and the pending calls are aborted', async (t) => {
  const aborts = abortCounter();
  const fast = await startUpstream(json({ fast: true }));
  const slow = await startUpstream((req, res, body) => {
    aborts.watch(res);
    delayed(3_000, json({ slow: true }))(req, res, body);
  });
  const failing = await startUpstream(status(503));
  const proxy = await setUp(
    t,
    { fast: [fast], slow: [slow], failing: [failing] },
    `      targets: [ { name: slow, upstream: slow }, { name: failing, upstream: failing }, { name: fast, upstream: fast } ]
      require: any
`,
  );
  const reply = await send(proxy.url(), '/product/1');
  t.equal(reply.status, 200);
  t.same(Object.keys(reply.json()).filter((k) => k !== '_errors'), ['fast'], 'only the winner (the slow call was cancelled, not failed)');
  await until(() => aborts.count === 1, 'the slow upstream to see the abort');
  t.equal(slow.arrived, 1);

  fast.behave(status(500));
  failing.behave(status(500));
  slow.behave(status(500));
  const none = await send(proxy.url(), '/product/2');
  t.equal(none.status, 502, 'any fails only when every call failed');
  t.same(Object.keys(none.json<{ targets: object }>().targets), ['slow', 'failing', 'fast']);
});

t.test('a request body above replayBodyLimit is refused with 413; an answer over 4 MiB fails its target', async (t) => {
  const small = await startUpstream(echo);
  const huge = await startUpstream(largeBody(4 * 1024 * 1024 + 1));
  const yaml = policy({ small: [small], huge: [huge] }, `      targets: [ { name: small, upstream: small }, { name: huge, upstream: huge } ]\n      require: 1\n`).replace(
    'admin:',
    'replayBodyLimit: 1KiB\nadmin:',
  );
  const proxy = await startSidecar(yaml);
  t.teardown(async () => {
    await proxy.close();
    await small.close();
    await huge.close();
  });
  const refused = await send(proxy.url(), '/product/1', { method: 'PUT', body: Buffer.alloc(2048, 0x61) });
  t.equal(refused.status, 413);
  t.equal(refused.headers['x-outrider-error'], 'request-too-large');
  t.equal(small.arrived + huge.arrived, 0, 'no target was called');

  const reply = await send(proxy.url(), '/product/1', { method: 'PUT', body: 'fits' });
  t.equal(reply.status, 200);
  t.equal(reply.headers['x-outrider-partial'], 'huge');
  t.same(reply.json<{ _errors: unknown }>()._errors, { huge: { error: 'response-too-large', status: 200, message: 'the answer is larger than 4194304 bytes' } });
});

t.test('circuitBreaker applies per target: an open breaker fails only its target, without calling it', async (t) => {
  const good = await startUpstream(json({ good: true }));
  const bad = await startUpstream(status(503));
  const proxy = await setUp(
    t,
    { good: [good], bad: [bad] },
    `      targets: [ { name: good, upstream: good }, { name: bad, upstream: bad } ]
      require: 1
`,
    '    circuitBreaker: { failureRatio: 0.5, minRequests: 2, openFor: 30s }\n',
  );
  for (let i = 0; i < 2; i++) t.equal((await send(proxy.url(), '/product/1')).headers['x-outrider-partial'], 'bad');
  const reply = await send(proxy.url(), '/product/1');
  t.equal(reply.status, 200);
  t.equal(reply.json<{ _errors: { bad: { error: string } } }>()._errors.bad.error, 'circuit-open');
  t.equal(bad.arrived, 2, 'the open breaker kept the third call away');
  t.equal(good.arrived, 3);
  const state = (await proxy.admin('/status')).json() as { routes: { scatterGather: { targets: { name: string; circuitBreaker: { state: string } }[] } }[] };
  t.same(
    state.routes[0]?.scatterGather.targets.map((x) => [x.name, x.circuitBreaker.state]),
    [
      ['good', 'closed'],
      ['bad', 'open'],
    ],
  );
});

t.test('visibility: metrics per target, /status counts, access log', async (t) => {
  const a = await startUpstream(json({ a: 1 }));
  const b = await startUpstream(status(500));
  const proxy = await setUp(t, { a: [a], b: [b] }, `      targets: [ { name: a, upstream: a }, { name: b, upstream: b } ]\n      require: 1\n`);
  for (let i = 0; i < 3; i++) t.equal((await send(proxy.url(), `/product/${i}`)).status, 200);

  const metrics = (await proxy.admin('/metrics')).body;
  t.match(metrics, /outrider_scatter_calls_total\{route="sg",target="a",outcome="success"\} 3/);
  t.match(metrics, /outrider_scatter_calls_total\{route="sg",target="b",outcome="upstream-status"\} 3/);
  t.match(metrics, /outrider_scatter_call_duration_seconds_count\{route="sg",target="a"\} 3/);
  t.match(metrics, /outrider_scatter_answers_total\{route="sg",result="partial"\} 3/);
  t.match(metrics, /outrider_requests_total\{listener="outbound",route="sg",upstream="scatter-gather",status_class="2xx",protocol="http1"\} 3/);

  const state = (await proxy.admin('/status')).json() as { routes: { layers: string[]; scatterGather: unknown }[] };
  const route = state.routes[0];
  t.same(route?.layers, ['observe', 'timeout', 'bufferBody', 'scatterGather']);
  t.match(route?.scatterGather, {
    require: 1,
    aggregate: 'group',
    targets: [
      { name: 'a', upstream: 'a', allEndpoints: false, timeoutMs: null, recent: { success: 3, failure: 0 }, lastFailure: null },
      { name: 'b', upstream: 'b', recent: { success: 0, failure: 3 }, lastFailure: { call: 'b', error: 'upstream-status', message: 'answered 500' } },
    ],
  });

  const line = proxy.accessLog.lines.at(-1);
  t.match(line, { route: 'sg', upstream: 'scatter-gather', attempts: 2, status: 200 });
});

t.test('a scatter route with upstream, retry or hedge of its own is a validation error', async (t) => {
  const result = loadPolicyText(
    `version: 1
listeners: [ { name: outbound, address: 127.0.0.1:15001 } ]
upstreams: { a: { endpoints: [http://127.0.0.1:9001] } }
routes:
  - name: sg
    match: { pathPrefix: / }
    hedge: { delay: 10ms }
    scatterGather: { targets: [ { name: a, upstream: a } ] }
`,
    'p.yaml',
  );
  t.same(result.ok ? [] : result.issues.map(formatIssue), ['p.yaml:7:5: routes[0].hedge: a scatterGather route takes no upstream, retry or hedge']);
});
