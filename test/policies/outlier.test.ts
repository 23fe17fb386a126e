import t from 'tap';
import { until } from '../helpers/held.js';
import { send } from '../helpers/http.js';
import { startSidecar } from '../helpers/sidecar.js';
import { startUpstream, status, type TestUpstream } from '../helpers/upstream.js';

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
