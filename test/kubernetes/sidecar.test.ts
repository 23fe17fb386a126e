/**
 * `kubernetes:` upstreams in the running sidecar, against a STAND-IN for the API server
 * (test/helpers/kube-api.ts: a local node:http server speaking the real EndpointSlice
 * list/watch wire format, not a real API server) named by KUBECONFIG, with real pods on
 * 127.0.0.2… on one port. Requests go through the outbound listener; state is read from /status.
 *
 * What a ClusterIP name cannot give and discovery does: the sidecar is ready with the pods
 * already known; a retry goes to another pod; a failing pod is ejected alone; a new pod gets
 * requests as soon as it is ready. Also: 502 "has no endpoints" while none is ready, a reload
 * to another Service (a new watch, the old one closed), one log line per API outage and one at
 * recovery, and the watch ends with the sidecar.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { until } from '../helpers/held.js';
import { send } from '../helpers/http.js';
import { KubeApiStandIn, slice } from '../helpers/kube-api.js';
import { startPods } from '../helpers/pods.js';
import { startSidecar, type TestSidecar } from '../helpers/sidecar.js';

interface Discovery {
  state: string;
  endpoints: number;
  lastSync: string | null;
  error?: string;
  failures?: number;
}
interface Status {
  ready: boolean;
  upstreams: { name: string; endpoints: { origin: string; available: boolean }[]; discovery?: Discovery }[];
}

const api = await KubeApiStandIn.start();
const pods = await startPods(3);
process.env.KUBECONFIG = api.kubeconfig(mkdtempSync(join(tmpdir(), 'outrider-kube-')));
t.teardown(async () => {
  await api.close();
  await pods.close();
});
const web = { name: 'web', port: pods.port };

function policy(service: string, route = ''): string {
  return `version: 1
admin: { address: 127.0.0.1:0 }
accessLog: off
listeners: [ { name: outbound, address: 127.0.0.1:0 } ]
upstreams:
  catalog:
    kubernetes: { service: ${service}, namespace: shop, port: web }
    outlier: { consecutiveFailures: 2, ejectFor: 1m, maxEjectedPercent: 50 }
routes:
  - { name: all, match: { pathPrefix: / }, upstream: catalog${route} }
`;
}

async function status(sidecar: TestSidecar): Promise<Status> {
  return (await sidecar.admin('/status')).json() as Status;
}

t.test('ready with the pods known; new pods get requests; a retry goes to another pod; a bad pod is ejected alone', async (t) => {
  api.apply(slice('catalog-a', 'catalog', [['127.0.0.2', true]], web));
  const sidecar = await startSidecar(policy('catalog', ', retry: { attempts: 2, on: [503], budget: { ratio: 1 } }'));
  t.teardown(() => sidecar.close());
  // No wait: start() returned after the first list, so the first request already has its pod.
  const first = await send(sidecar.url(), '/first');
  t.same([first.status, first.body], [200, '127.0.0.2'], 'the first request, right after start, reaches the pod');
  const s = await status(sidecar);
  t.match(s.upstreams[0]?.discovery, { source: 'kubernetes', service: 'catalog', namespace: 'shop', port: 'web', state: 'watching', endpoints: 1, lastSync: /^\d{4}-/ });

  api.apply(slice('catalog-a', 'catalog', [['127.0.0.2', true], ['127.0.0.3', true], ['127.0.0.4', true]], web));
  await until(async () => (await status(sidecar)).upstreams[0]?.discovery?.endpoints === 3, '/status to show three pods', 10_000);
  const seen = new Set<string>();
  for (let i = 0; i < 6; i++) seen.add((await send(sidecar.url(), `/spread${i}`)).body);
  t.same([...seen].sort(), ['127.0.0.2', '127.0.0.3', '127.0.0.4'], 'every ready pod gets requests');

  const bad = pods.pods[0];
  if (bad === undefined) throw new Error('no pod');
  bad.status = 503;
  const answers = await Promise.all(Array.from({ length: 12 }, (_, i) => send(sidecar.url(), `/retry${i}`)));
  t.same(answers.map((a) => a.status), Array(12).fill(200), 'every request succeeds: a 503 from one pod is retried on another pod');
  t.ok(bad.served >= 1, 'the failing pod was tried');
  await until(async () => (await status(sidecar)).upstreams[0]?.endpoints.some((e) => !e.available) === true, 'the failing pod to be ejected');
  const endpoints = (await status(sidecar)).upstreams[0]?.endpoints ?? [];
  t.same(endpoints.filter((e) => !e.available).map((e) => e.origin), [`http://127.0.0.2:${pods.port}`], 'only that pod is ejected, not the Service');
  bad.status = 200;
  api.remove('catalog-a');
  await until(async () => (await status(sidecar)).upstreams[0]?.discovery?.endpoints === 0, 'the slice to go');
});

t.test('no ready pod: 502 upstream-unreachable "has no endpoints"; a pod turning ready is called at once', async (t) => {
  api.apply(slice('search-a', 'search', [['127.0.0.3', false]], web));
  const sidecar = await startSidecar(policy('search'));
  t.teardown(() => sidecar.close());
  const none = await send(sidecar.url(), '/');
  t.equal(none.status, 502);
  t.equal(none.headers['x-outrider-error'], 'upstream-unreachable');
  t.match(none.body, /upstream catalog has no endpoints/);
  t.equal((await status(sidecar)).ready, true, 'the sidecar is ready all the same: it has its first list');
  t.match((await status(sidecar)).upstreams[0]?.discovery, { state: 'watching', endpoints: 0, note: 'Service shop/search has no ready pods' });
  api.apply(slice('search-a', 'search', [['127.0.0.3', true]], web));
  await until(async () => (await status(sidecar)).upstreams[0]?.discovery?.endpoints === 1, 'the pod turned ready');
  t.equal((await send(sidecar.url(), '/')).body, '127.0.0.3');
});

t.test('a reload to another Service: a new watch replaces the old one; an unchanged upstream keeps its watch', async (t) => {
  api.apply(slice('orders-a', 'orders', [['127.0.0.2', true]], web));
  api.apply(slice('billing-a', 'billing', [['127.0.0.3', true]], web));
  const sidecar = await startSidecar(policy('orders'));
  t.teardown(() => sidecar.close());
  await until(() => api.openWatches === 1, 'the watch');
  const watches = api.counts.watches;
  t.same(await sidecar.sidecar.reload(), { result: 'unchanged' });
  t.equal(api.counts.watches, watches, 'an unchanged policy opens no watch');
  sidecar.rewrite(policy('billing'));
  t.same(await sidecar.sidecar.reload(), { result: 'applied' });
  t.equal((await send(sidecar.url(), '/')).body, '127.0.0.3', 'at once: the reload waited for the new list');
  await until(() => api.openWatches === 1 && api.counts.watches === watches + 1, 'the old watch closed, the new one open');
  t.match((await status(sidecar)).upstreams[0]?.discovery, { service: 'billing', state: 'watching', endpoints: 1 });
});

t.test('an API outage: logged once, requests served from the last set; recovery logged; the watch ends with the sidecar', async (t) => {
  api.apply(slice('cart-a', 'cart', [['127.0.0.4', true]], web));
  const sidecar = await startSidecar(policy('cart'));
  let closed = false;
  t.teardown(() => (closed ? undefined : sidecar.close()));
  const watches = api.openWatches;
  await api.down();
  await until(async () => ((await status(sidecar)).upstreams[0]?.discovery?.failures ?? 0) >= 2, 'two failed tries', 10_000);
  t.equal((await send(sidecar.url(), '/')).body, '127.0.0.4', 'still served from the last good set');
  const warnings = (): unknown[] => sidecar.opsLog.lines.filter((l) => l.msg === 'Kubernetes endpoint discovery failed; keeping the last endpoints and retrying');
  t.equal(warnings().length, 1, 'one warning for the outage');
  t.match(warnings()[0], { level: 40, upstream: 'catalog', err: /endpointslices/ });
  await api.up();
  await until(() => sidecar.opsLog.lines.some((l) => l.msg === 'Kubernetes endpoint discovery recovered'), 'the recovery log line', 10_000);
  t.match((await status(sidecar)).upstreams[0]?.discovery, { state: 'watching', endpoints: 1 });
  t.notOk((await status(sidecar)).upstreams[0]?.discovery?.error);
  await until(() => api.openWatches >= 1, 'the watch to reopen');
  await sidecar.close();
  closed = true;
  await until(() => api.openWatches === 0, 'the watch to end with the sidecar');
  t.equal(api.openWatches, 0, `the watch ended with the sidecar (${watches} were open before the outage)`);
});
