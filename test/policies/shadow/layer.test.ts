import { randomBytes } from 'node:crypto';
import t from 'tap';
import { compareAnswers, IgnoreList } from '../../../src/policies/shadow/compare.js';
import { send } from '../../helpers/http.js';
import { startSidecar } from '../../helpers/sidecar.js';
import { closedPort, delayed, startUpstream, type Behaviour, type TestUpstream } from '../../helpers/upstream.js';

function policy(primary: string, shadowUrl: string, shadow: string): string {
  return `version: 1
admin: { address: 127.0.0.1:0 }
accessLog: off
listeners: [ { name: outbound, address: 127.0.0.1:0 } ]
upstreams:
  v1: { endpoints: [${primary}] }
  v2: { endpoints: [${shadowUrl}] }
routes:
  - name: s
    match: { pathPrefix: / }
    upstream: v1
    timeout: 2s
    shadow: ${shadow}
`;
}

const json =
  (value: unknown, extraHeaders: Record<string, string> = {}): Behaviour =>
  (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json', ...extraHeaders });
    res.end(JSON.stringify(value));
  };

async function settle(upstream: TestUpstream, count: number): Promise<void> {
  for (let i = 0; i < 100 && upstream.requests.length < count; i++) await new Promise((r) => setTimeout(r, 20));
}

t.test('percent mirrors evenly, with Host suffixed -shadow and x-outrider-shadow: 1', async (t) => {
  const primary = await startUpstream();
  const shadow = await startUpstream();
  const proxy = await startSidecar(policy(primary.url, shadow.url, '{ upstream: v2, percent: 25 }'));
  t.teardown(async () => {
    await proxy.close();
    await primary.close();
    await shadow.close();
  });
  for (let i = 0; i < 40; i++) {
    const reply = await send(proxy.url(), `/${i}`, { headers: { host: 'catalog:8080' } });
    t.equal(reply.status, 200);
  }
  await settle(shadow, 10);
  t.equal(primary.requests.length, 40, 'every request reached the primary');
  t.equal(shadow.requests.length, 10, '25% of 40 mirrored');
  const mirrored = shadow.requests.map((r) => Number(r.url.slice(1))).sort((a, b) => a - b);
  const gaps = mirrored.slice(1).map((n, i) => n - (mirrored[i] as number));
  t.same([...new Set(gaps)], [4], 'every 4th request, not a burst');
  t.equal(shadow.requests[0]?.headers.host, 'catalog-shadow:8080');
  t.equal(shadow.requests[0]?.headers['x-outrider-shadow'], '1');
  t.equal(primary.requests[0]?.headers['x-outrider-shadow'], undefined, 'the primary is not marked');
});

t.test('a request body reaches both, teed', async (t) => {
  const primary = await startUpstream();
  const shadow = await startUpstream();
  const proxy = await startSidecar(policy(primary.url, shadow.url, '{ upstream: v2 }'));
  t.teardown(async () => {
    await proxy.close();
    await primary.close();
    await shadow.close();
  });
  const body = randomBytes(300_000);
  const reply = await send(proxy.url(), '/post', { method: 'POST', body });
  t.equal(reply.json().bodyBytes, body.length);
  await settle(shadow, 1);
  t.equal(shadow.requests[0]?.bodyBytes, body.length, 'the shadow got the same body');
});

t.test('the primary never depends on the shadow: slow and dead shadows', async (t) => {
  const primary = await startUpstream(json({ ok: true }));
  const slow = await startUpstream(delayed(1_500));
  const proxy = await startSidecar(policy(primary.url, slow.url, '{ upstream: v2 }'));
  t.teardown(async () => {
    await proxy.close();
    await primary.close();
    await slow.close();
  });
  const replies = await Promise.all(Array.from({ length: 5 }, (_, i) => send(proxy.url(), `/${i}`)));
  t.same(replies.map((r) => r.status), [200, 200, 200, 200, 200]);
  t.ok(replies.every((r) => r.body === '{"ok":true}'), 'answers come from the primary');
  const during = (await proxy.admin('/status')).json() as { routes: { shadow: { inFlight: number } }[] };
  t.equal(during.routes[0]?.shadow.inFlight, 5, 'the shadows are still in flight while the primaries have answered');

  const dead = await closedPort();
  const proxy2 = await startSidecar(policy(primary.url, `http://127.0.0.1:${dead}`, '{ upstream: v2 }'));
  t.teardown(() => proxy2.close());
  const reply = await send(proxy2.url(), '/x');
  t.equal(reply.status, 200, 'a dead shadow changes nothing for the client');
  await new Promise((r) => setTimeout(r, 50));
  const metrics = (await proxy2.admin('/metrics')).body;
  t.match(metrics, /outrider_shadow_requests_total\{route="s",result="failed"\} 1/);
});

t.test('a dead shadow is paused after a run of failures, so the primary stops paying for it', async (t) => {
  const primary = await startUpstream();
  const dead = await closedPort();
  const proxy = await startSidecar(policy(primary.url, `http://127.0.0.1:${dead}`, '{ upstream: v2 }'));
  t.teardown(async () => {
    await proxy.close();
    await primary.close();
  });
  for (let i = 0; i < 12; i++) {
    t.equal((await send(proxy.url(), `/d${i}`)).status, 200);
    await new Promise((r) => setTimeout(r, 10));
  }
  const state = (await proxy.admin('/status')).json() as { routes: { shadow: { failed: number; dropped: number } }[] };
  t.equal(state.routes[0]?.shadow.failed, 5, 'five failures in a row');
  t.equal(state.routes[0]?.shadow.dropped, 7, 'then dropped without a connect attempt');
});

t.test('in-flight shadows are bounded: the rest are dropped, not queued', async (t) => {
  const primary = await startUpstream();
  const stuck = await startUpstream(delayed(3_000));
  const proxy = await startSidecar(policy(primary.url, stuck.url, '{ upstream: v2 }'));
  t.teardown(async () => {
    await proxy.close();
    await primary.close();
    await stuck.close();
  });
  for (let wave = 0; wave < 4; wave++) await Promise.all(Array.from({ length: 20 }, (_, i) => send(proxy.url(), `/${wave}-${i}`)));
  const state = (await proxy.admin('/status')).json() as { routes: { shadow: { inFlight: number; dropped: number; sent: number } }[] };
  const shadow = state.routes[0]?.shadow;
  t.equal(shadow?.inFlight, 64, 'at the limit');
  t.equal(shadow?.sent, 64);
  t.equal(shadow?.dropped, 16, 'the 16 beyond the limit were dropped');
  t.equal(primary.requests.length, 80, 'every primary request was served');
});

t.test('compare: matches and differences are counted, ignored paths skipped, diffs logged', async (t) => {
  const primary = await startUpstream(json({ id: 1, price: 10, requestId: 'a' }, { date: 'Mon, 01 Jan 2024 00:00:00 GMT', 'x-version': '1' }));
  const shadow = await startUpstream(json({ id: 1, price: 10, requestId: 'b' }, { date: 'Tue, 02 Jan 2024 00:00:00 GMT', 'x-version': '1' }));
  const proxy = await startSidecar(policy(primary.url, shadow.url, '{ upstream: v2, compare: { ignore: [headers.date, body.requestId] } }'));
  t.teardown(async () => {
    await proxy.close();
    await primary.close();
    await shadow.close();
  });
  for (let i = 0; i < 3; i++) await send(proxy.url(), `/same${i}`);
  shadow.behave(json({ id: 1, price: 12, requestId: 'c' }, { 'x-version': '2' }));
  await send(proxy.url(), '/differs');
  await new Promise((r) => setTimeout(r, 100));
  const state = (await proxy.admin('/status')).json() as { routes: { shadow: { compared: number; matched: number; matchRate: number } }[] };
  t.equal(state.routes[0]?.shadow.compared, 4);
  t.equal(state.routes[0]?.shadow.matched, 3);
  t.equal(state.routes[0]?.shadow.matchRate, 0.75);
  const metrics = (await proxy.admin('/metrics')).body;
  t.match(metrics, /outrider_shadow_compares_total\{route="s",result="match"\} 3/);
  t.match(metrics, /outrider_shadow_differences_total\{route="s",kind="body"\} 1/);
  t.match(metrics, /outrider_shadow_differences_total\{route="s",kind="header"\} 1/);
  const logged = proxy.opsLog.lines.find((l) => l.msg === 'shadow answer differs') as { diffs: { path: string; primary: unknown; shadow: unknown }[] } | undefined;
  t.same(
    logged?.diffs.map((d) => [d.path, d.primary, d.shadow]),
    [
      ['headers.x-version', '1', '2'],
      ['body.price', 10, 12],
    ],
    'the diff names each path with both values',
  );
});

t.test("compare.noise: fields that differ between two primary answers are learned as noise (Diffy)", async (t) => {
  let n = 0;
  const primary = await startUpstream((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ generatedAt: n++, items: [{ id: 1, ts: n * 7 }], price: 10 }));
  });
  const shadow = await startUpstream((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ generatedAt: -1, items: [{ id: 1, ts: -1 }], price: 12 }));
  });
  const proxy = await startSidecar(policy(primary.url, shadow.url, '{ upstream: v2, compare: { noise: 100 } }'));
  t.teardown(async () => {
    await proxy.close();
    await primary.close();
    await shadow.close();
  });
  for (let i = 0; i < 3; i++) await send(proxy.url(), `/n${i}`);
  await new Promise((r) => setTimeout(r, 150));
  t.equal(primary.requests.filter((r) => r.headers['x-outrider-noise-probe'] === '1').length, 3, 'each compared GET was asked twice of the primary');
  const state = (await proxy.admin('/status')).json() as { routes: { shadow: { noisePaths: string[]; noiseSuppressed: number } }[] };
  t.same(state.routes[0]?.shadow.noisePaths.sort(), ['body.generatedAt', 'body.items[*].ts'], 'the volatile fields were learned');
  t.equal(state.routes[0]?.shadow.noiseSuppressed, 6, 'two noisy diffs per request left out');
  const logged = proxy.opsLog.lines.filter((l) => l.msg === 'shadow answer differs') as { diffs: { path: string }[] }[];
  t.ok(logged.length > 0 && logged.every((l) => l.diffs.map((d) => d.path).join() === 'body.price'), 'only the real difference is reported');
  await send(proxy.url(), '/post', { method: 'POST', body: 'x' });
  await new Promise((r) => setTimeout(r, 50));
  t.equal(primary.requests.filter((r) => r.headers['x-outrider-noise-probe'] === '1').length, 3, 'a POST is never sent twice to the primary');
});

t.test('compareAnswers: JSON structure, arrays, wildcards, non-JSON bytes', async (t) => {
  const answer = (body: unknown, status = 200) => ({ status, headers: ['content-type', 'application/json'], body: Buffer.from(typeof body === 'string' ? body : JSON.stringify(body)) });
  const none = new IgnoreList([]);
  t.same(compareAnswers(answer({ a: [1, 2] }), answer({ a: [1, 2] }), none), []);
  t.same(
    compareAnswers(answer({ a: [1, 2] }), answer({ a: [1, 3, 4] }), none).map((d) => d.path),
    ['body.a[1]', 'body.a[2]'],
  );
  t.same(compareAnswers(answer({ items: [{ ts: 1 }, { ts: 2 }] }), answer({ items: [{ ts: 5 }, { ts: 6 }] }), new IgnoreList(['body.items[*].ts'])), []);
  t.same(compareAnswers(answer('plain'), answer('plain!'), none).map((d) => d.path), ['body']);
  t.same(compareAnswers(answer({}, 200), answer({}, 500), none).map((d) => d.kind), ['status']);
});

