import t from 'tap';
import { holding, until } from '../helpers/held.js';
import { send } from '../helpers/http.js';
import { startSidecar } from '../helpers/sidecar.js';
import { reset, startUpstream, status, type TestUpstream } from '../helpers/upstream.js';

function policy(endpoints: TestUpstream[], outlier: string): string {
  return `version: 1
admin: { address: 127.0.0.1:0 }
accessLog: off
listeners: [ { name: outbound, address: 127.0.0.1:0 } ]
upstreams:
  app:
    endpoints: [${endpoints.map((e) => e.url).join(', ')}]
    outlier: ${outlier}
routes:
  - { name: r, match: { pathPrefix: / }, upstream: app }
`;
}

type Status = { upstreams: { endpoints: { origin: string; available: boolean }[] }[] };

t.test('an endpoint failing in a row is ejected, gets no tries, and comes back', async (t) => {
  const bad = await startUpstream(status(503));
  const good = [await startUpstream(), await startUpstream()];
  const proxy = await startSidecar(policy([bad, ...good], '{ consecutiveFailures: 2, ejectFor: 1s, maxEjectedPercent: 50 }'));
  t.teardown(async () => {
    await proxy.close();
    for (const u of [bad, ...good]) await u.close();
  });
  for (let i = 0; i < 9; i++) await send(proxy.url(), `/${i}`);
  t.equal(bad.arrived, 2, 'the failing endpoint got exactly consecutiveFailures tries');
  const state = (await proxy.admin('/status')).json() as Status;
  t.same(state.upstreams[0]?.endpoints.map((e) => e.available), [false, true, true], '/status shows it ejected');
  for (let i = 0; i < 6; i++) await send(proxy.url(), `/more${i}`);
  t.equal(bad.arrived, 2, 'no tries while ejected');
  const metrics = (await proxy.admin('/metrics')).body;
  t.match(metrics, /outrider_outlier_ejections_total\{upstream="app"\} 1/);

  // ejectFor is a real timer in the sidecar: wait for /status to show the endpoint back.
  await until(async () => ((await proxy.admin('/status')).json() as Status).upstreams[0]?.endpoints[0]?.available === true, 'the ejection to end');
  bad.behave(status(200, 'recovered'));
  for (let i = 0; i < 6; i++) await send(proxy.url(), `/back${i}`);
  t.ok(bad.arrived > 2, 'after ejectFor it gets tries again');
});

t.test('never more than maxEjectedPercent of the endpoints are ejected', async (t) => {
  const bad = [await startUpstream(status(502)), await startUpstream(status(502))];
  const good = await startUpstream();
  const proxy = await startSidecar(policy([...bad, good], '{ consecutiveFailures: 1, ejectFor: 10s, maxEjectedPercent: 34 }'));
  t.teardown(async () => {
    await proxy.close();
    for (const u of [...bad, good]) await u.close();
  });
  for (let i = 0; i < 12; i++) await send(proxy.url(), `/${i}`);
  const state = (await proxy.admin('/status')).json() as Status;
  const ejected = state.upstreams[0]?.endpoints.filter((e) => !e.available).length;
  t.equal(ejected, 1, 'one of three (34%) at most');
});

t.test('resets and timeouts count as failures: such endpoints are ejected too', async (t) => {
  const resetting = await startUpstream(reset);
  const held = holding();
  const silent = await startUpstream(held.behaviour);
  const good = await startUpstream();
  const proxy = await startSidecar(
    policy([resetting, silent, good], '{ consecutiveFailures: 2, ejectFor: 30s, maxEjectedPercent: 67 }').replace(
      '{ name: r, match: { pathPrefix: / }, upstream: app }',
      '{ name: r, match: { pathPrefix: / }, upstream: app, timeout: 100ms }',
    ),
  );
  t.teardown(async () => {
    await proxy.close();
    for (const u of [resetting, silent, good]) await u.close();
  });
  const statuses: number[] = [];
  for (let i = 0; i < 6; i++) statuses.push((await send(proxy.url(), `/${i}`)).status);
  t.same(
    [...statuses].sort(),
    [200, 200, 502, 502, 504, 504],
    'round-robin: two resets (502), two timeouts (504), two answers',
  );
  const state = (await proxy.admin('/status')).json() as Status;
  t.same(state.upstreams[0]?.endpoints.map((e) => e.available), [false, false, true], 'the resetting and the silent endpoint are ejected');
  for (let i = 0; i < 4; i++) t.equal((await send(proxy.url(), `/after${i}`)).status, 200, 'the rest go to the good one');
  t.equal(resetting.arrived + silent.arrived, 4, 'no tries reach the ejected endpoints');
  t.match((await proxy.admin('/metrics')).body, /outrider_outlier_ejections_total\{upstream="app"\} 2/);
});
