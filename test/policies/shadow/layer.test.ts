import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import t from 'tap';
import { compareAnswers, IgnoreList } from '../../../src/policies/shadow/compare.js';
import { holding, until } from '../../helpers/held.js';
import { send } from '../../helpers/http.js';
import { startSidecar, type TestSidecar } from '../../helpers/sidecar.js';
import { closedPort, startUpstream, type Behaviour, type TestUpstream } from '../../helpers/upstream.js';

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

/** Wait until `upstream` has received `count` complete requests (the shadows are fire-and-forget). */
function settle(upstream: TestUpstream, count: number): Promise<void> {
  return until(() => upstream.requests.length >= count, `${count} requests at the shadow`);
}

type ShadowStatus = { inFlight: number; sent: number; dropped: number; failed: number; compared: number; matched: number; matchRate: number; noisePaths: string[]; noiseSuppressed: number; noiseProbes: number };

async function shadowOf(proxy: TestSidecar): Promise<ShadowStatus> {
  const status = (await proxy.admin('/status')).json() as { routes: { shadow: ShadowStatus }[] };
  const shadow = status.routes[0]?.shadow;
  if (shadow === undefined) throw new Error('route s shows no shadow on /status');
  return shadow;
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
  const held = holding();
  const slow = await startUpstream(held.behaviour);
  const proxy = await startSidecar(policy(primary.url, slow.url, '{ upstream: v2 }'));
  t.teardown(async () => {
    held.release();
    await proxy.close();
    await primary.close();
    await slow.close();
  });
  const replies = await Promise.all(Array.from({ length: 5 }, (_, i) => send(proxy.url(), `/${i}`)));
  t.same(replies.map((r) => r.status), [200, 200, 200, 200, 200]);
  t.ok(replies.every((r) => r.body === '{"ok":true}'), 'answers come from the primary');
  await until(() => held.count === 5, 'the five shadows to be held');
  t.equal((await shadowOf(proxy)).inFlight, 5, 'the shadows are still in flight while the primaries have answered');
  held.release();
  await until(async () => (await shadowOf(proxy)).inFlight === 0, 'the shadows to finish once answered');

  const dead = await closedPort();
  const proxy2 = await startSidecar(policy(primary.url, `http://127.0.0.1:${dead}`, '{ upstream: v2 }'));
  t.teardown(() => proxy2.close());
  const reply = await send(proxy2.url(), '/x');
  t.equal(reply.status, 200, 'a dead shadow changes nothing for the client');
  await until(async () => (await shadowOf(proxy2)).failed === 1, 'the dead shadow to fail');
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
    // Each shadow's outcome is in before the next request (one failure at a time, in a row).
    await until(async () => {
      const s = await shadowOf(proxy);
      return s.failed + s.dropped === i + 1 && s.inFlight === 0;
    }, `the shadow of request ${i} to be settled`);
  }
  const state = await shadowOf(proxy);
  t.equal(state.failed, 5, 'five failures in a row');
  t.equal(state.dropped, 7, 'then dropped without a connect attempt');
});

t.test('in-flight shadows are bounded: the rest are dropped, not queued', async (t) => {
  const primary = await startUpstream();
  const held = holding();
  const stuck = await startUpstream(held.behaviour);
  const proxy = await startSidecar(policy(primary.url, stuck.url, '{ upstream: v2 }'));
  t.teardown(async () => {
    held.release();
    await proxy.close();
    await primary.close();
    await stuck.close();
  });
  for (let wave = 0; wave < 4; wave++) await Promise.all(Array.from({ length: 20 }, (_, i) => send(proxy.url(), `/${wave}-${i}`)));
  const shadow = await shadowOf(proxy);
  t.equal(shadow.inFlight, 64, 'at the limit');
  t.equal(shadow.sent, 64);
  t.equal(shadow.dropped, 16, 'the 16 beyond the limit were dropped');
  t.equal(primary.requests.length, 80, 'every primary request was served');
  await until(() => held.count === 64, 'the 64 shadows to reach the shadow upstream');
  t.equal(stuck.arrived, 64, 'only the admitted shadows reached it');
});

t.test('a body past replayBodyLimit: the primary gets every byte, a shadow that falls behind is dropped, not failed', async (t) => {
  // The shadow upstream accepts each request and does not read its body: its copy backs up in
  // the proxy until it passes replayBodyLimit (64 KiB here) and is dropped.
  const stalled: IncomingMessage[] = [];
  let stalledClosed = 0;
  const shadowServer = createServer((req) => {
    stalled.push(req);
    req.socket.on('close', () => (stalledClosed += 1));
  });
  await new Promise<void>((resolve) => shadowServer.listen(0, '127.0.0.1', resolve));
  const shadowUrl = `http://127.0.0.1:${(shadowServer.address() as AddressInfo).port}`;
  const primary = await startUpstream();
  const proxy = await startSidecar(policy(primary.url, shadowUrl, '{ upstream: v2 }').replace('accessLog: off', 'accessLog: off\nreplayBodyLimit: 64KiB'));
  t.teardown(async () => {
    await proxy.close();
    await primary.close();
    shadowServer.closeAllConnections();
    await new Promise<void>((resolve) => shadowServer.close(() => resolve()));
  });

  // 16 MiB: more than the sockets between the proxy and the stalled shadow can hold.
  const body = randomBytes(16 * 1024 * 1024);
  // Six in a row: more than the five failures that would pause a dead shadow.
  for (let i = 0; i < 6; i++) {
    const reply = await send(proxy.url(), `/big${i}`, { method: 'PUT', body });
    t.equal(reply.status, 200, `request ${i}: answered by the primary`);
    t.equal(reply.json().bodyBytes, body.length, `request ${i}: the primary read the whole body`);
    await until(async () => {
      const s = await shadowOf(proxy);
      return s.inFlight === 0 && s.dropped + s.failed === i + 1;
    }, `the shadow of request ${i} to be given up`);
    // Now read what reached the shadow upstream: the connection must end (cut by the proxy)
    // rather than wait for the rest of a body that will never come.
    t.equal(stalled.length, i + 1, `request ${i}: mirrored to the shadow upstream (not paused as a dead shadow)`);
    const request = stalled[i];
    if (request === undefined) continue;
    request.resume();
    await until(() => stalledClosed === i + 1, `the shadow request ${i} to be cut at the shadow upstream`);
  }
  t.same(
    primary.requests.map((r) => r.bodyBytes),
    Array(6).fill(body.length),
    'every byte reached the primary, every time',
  );
  const state = await shadowOf(proxy);
  t.equal(state.sent, 6, 'each request was mirrored');
  t.equal(state.dropped, 6, 'each shadow that fell behind was dropped');
  t.equal(state.failed, 0, 'none counted as a failure of the shadow');
  t.equal(stalled.length, 6, 'the shadow upstream was reached each time (it was not paused as dead)');
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
  await until(async () => (await shadowOf(proxy)).compared === 4, 'four comparisons');
  const state = await shadowOf(proxy);
  t.equal(state.compared, 4);
  t.equal(state.matched, 3);
  t.equal(state.matchRate, 0.75);
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
  // A comparison is recorded once the primary, the shadow and the noise probe have all answered.
  await until(async () => (await shadowOf(proxy)).compared === 3, 'three comparisons');
  t.equal(primary.requests.filter((r) => r.headers['x-outrider-noise-probe'] === '1').length, 3, 'each compared GET was asked twice of the primary');
  const state = await shadowOf(proxy);
  t.same(state.noisePaths.sort(), ['body.generatedAt', 'body.items[*].ts'], 'the volatile fields were learned');
  t.equal(state.noiseSuppressed, 6, 'two noisy diffs per request left out');
  const logged = proxy.opsLog.lines.filter((l) => l.msg === 'shadow answer differs') as { diffs: { path: string }[] }[];
  t.ok(logged.length > 0 && logged.every((l) => l.diffs.map((d) => d.path).join() === 'body.price'), 'only the real difference is reported');
  await send(proxy.url(), '/post', { method: 'POST', body: 'x' });
  // Its comparison waits for a noise probe, if one were sent: once it is in, none can come later.
  await until(async () => (await shadowOf(proxy)).compared === 4, "the POST's comparison");
  t.equal((await shadowOf(proxy)).noiseProbes, 3, 'no noise probe for the POST');
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

