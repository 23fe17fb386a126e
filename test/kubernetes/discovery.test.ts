/**
 * Kubernetes endpoint discovery on a running upstream (UpstreamRuntime with `kubernetes:`),
 * against a STAND-IN for the API server (test/helpers/kube-api.ts: a local node:http server
 * speaking the real EndpointSlice list/watch wire format, not a real API server), reached
 * through a kubeconfig. The pods are real HTTP servers on 127.0.0.2… on one port, and each
 * request goes through the endpoint the upstream's balancer picks.
 *
 * Synchronised on what can be observed (the upstream's endpoints, /status's discovery block,
 * the stand-in's request counts), with bounded waits; no sleeps. Backoff and watch pacing are
 * shortened (DiscoveryOptions) so that an outage and its recovery take milliseconds.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { request, type Pool } from 'undici';
import { loadPolicyText } from '../../src/config/load.js';
import type { DiscoveryStatus } from '../../src/kubernetes/discovery/types.js';
import { UpstreamRuntime } from '../../src/upstream/upstream.js';
import { until } from '../helpers/held.js';
import { KubeApiStandIn, slice } from '../helpers/kube-api.js';
import { startPods, type Pods } from '../helpers/pods.js';

const FAST = { backoffBaseMs: 20, backoffMaxMs: 100, minWatchIntervalMs: 10, requestTimeoutMs: 2_000 };

interface World {
  readonly api: KubeApiStandIn;
  readonly pods: Pods;
  readonly upstream: UpstreamRuntime;
  readonly errors: string[];
  readonly recoveries: number[];
  origins(): string[];
  status(): DiscoveryStatus;
  /** One request through the endpoint the balancer picks: the answering pod's address. */
  call(): Promise<string>;
}

async function world(t: Test, kubernetes: string, prepare: (api: KubeApiStandIn, port: number) => void, tuning: Partial<typeof FAST> = {}): Promise<World> {
  const pods = await startPods(3);
  const api = await KubeApiStandIn.start();
  prepare(api, pods.port);
  const loaded = loadPolicyText(
    `version: 1
listeners: [ { name: outbound, address: 127.0.0.1:0 } ]
upstreams:
  catalog: { kubernetes: ${kubernetes}, idleTimeout: 60s }
routes: [ { name: all, upstream: catalog } ]
`,
    'policy.yaml',
  );
  if (!loaded.ok) throw new Error(loaded.issues.map((i) => i.message).join('\n'));
  const env = { KUBECONFIG: api.kubeconfig(mkdtempSync(join(tmpdir(), 'outrider-kube-'))) };
  const upstream = new UpstreamRuntime(loaded.policy.upstreams.get('catalog') as never, {}, { discovery: { ...FAST, ...tuning, env } });
  const errors: string[] = [];
  const recoveries: number[] = [];
  t.teardown(async () => {
    await upstream.close();
    await api.close();
    await pods.close();
  });
  await upstream.start({ onDiscoveryError: (_name, err) => void errors.push(err.message), onDiscoveryRecovered: (_name, n) => void recoveries.push(n) });
  return {
    api,
    pods,
    upstream,
    errors,
    recoveries,
    origins: () => upstream.endpoints.map((e) => e.origin),
    status: () => upstream.discoveryStatus() as DiscoveryStatus,
    call: async () => {
      const endpoint = upstream.pick([]);
      if (endpoint === undefined) throw new Error('no endpoint picked');
      const res = await request(`${endpoint.origin}/`, { dispatcher: endpoint.pool as Pool });
      return res.body.text();
    },
  };
}

const http = (port: number) => ({ name: 'http', port });
const at = (port: number, ...addresses: string[]): string[] => addresses.map((a) => `http://${a}:${port}`);

t.test('pods added, turned unready and removed: the endpoints follow, kept pods keep their endpoint', async (t) => {
  const w = await world(t, '{ service: catalog, namespace: shop, port: http }', (api, port) => api.apply(slice('catalog-a', 'catalog', [['127.0.0.2', true]], http(port))));
  const port = w.pods.port;
  t.same(w.origins(), at(port, '127.0.0.2'), 'listed before start() resolved');
  t.equal(await w.call(), '127.0.0.2');
  t.match(w.status(), { source: 'kubernetes', service: 'catalog', namespace: 'shop', port: 'http', state: 'watching', endpoints: 1 });
  t.notOk(w.status().error, 'no error');
  const first = w.upstream.endpoints[0];

  await until(() => w.api.openWatches === 1, 'the watch to open');
  w.api.apply(slice('catalog-a', 'catalog', [['127.0.0.2', true], ['127.0.0.3', true]], http(port)));
  w.api.apply(slice('catalog-b', 'catalog', [['127.0.0.4', false]], http(port)));
  await until(() => w.origins().length === 2, 'the added pod to arrive');
  t.same(w.origins(), at(port, '127.0.0.2', '127.0.0.3'), 'the ready pod is added; the unready one is not');
  t.equal(w.upstream.endpoints[0], first, 'the pod that stayed keeps its endpoint (pool, outlier state)');
  const answered = new Set<string>();
  for (let i = 0; i < 4; i++) answered.add(await w.call());
  t.same([...answered].sort(), ['127.0.0.2', '127.0.0.3'], 'requests reach the new pod');

  w.api.apply(slice('catalog-b', 'catalog', [['127.0.0.4', true]], http(port)));
  await until(() => w.origins().length === 3, 'the pod turned ready');
  w.api.apply(slice('catalog-a', 'catalog', [['127.0.0.2', false], ['127.0.0.3', true]], http(port)));
  await until(() => !w.origins().includes(at(port, '127.0.0.2')[0] as string), 'the unready pod to leave');
  t.same(w.origins(), at(port, '127.0.0.3', '127.0.0.4'));
  await until(() => (first?.pool as Pool).closed, "the unready pod's pool to close");
  t.ok((first?.pool as Pool).closed, 'the pod turned unready had its pool closed (after its requests)');

  w.api.remove('catalog-b');
  await until(() => w.origins().length === 1, 'the removed slice to take its pod');
  t.same(w.origins(), at(port, '127.0.0.3'));
  w.api.remove('catalog-a');
  await until(() => w.origins().length === 0, 'the last slice to go');
  t.match(w.status(), { state: 'watching', endpoints: 0, note: /no EndpointSlices for Service shop\/catalog/ });
  t.equal(w.upstream.pick([]), undefined, 'no endpoint: the forward step answers 502 "has no endpoints"');
  t.same([w.api.counts.lists, w.errors], [1, []], 'one list, then only the watch; no error');
});

t.test('the watch dropped: re-watched from the last resourceVersion, nothing lost, nothing listed again', async (t) => {
  const w = await world(t, '{ service: catalog, namespace: shop, port: http }', (api, port) => api.apply(slice('catalog-a', 'catalog', [['127.0.0.2', true]], http(port))));
  const port = w.pods.port;
  await until(() => w.api.openWatches === 1, 'the watch to open');
  w.api.dropWatches();
  // Changed while no watch is open: only the replay from the resourceVersion can bring it.
  w.api.apply(slice('catalog-b', 'catalog', [['127.0.0.3', true]], http(port)));
  await until(() => w.origins().length === 2, 'the change made while the watch was down');
  t.same(w.origins(), at(port, '127.0.0.2', '127.0.0.3'));
  t.same([w.api.counts.lists, w.api.counts.watches], [1, 2], 'one list; the watch reopened');
  t.equal(w.status().state, 'watching');
  t.same(w.errors, [], 'a watch the server ends is not an error');
  w.api.bookmark();
  w.api.apply(slice('catalog-b', 'catalog', [['127.0.0.3', true], ['127.0.0.4', true]], http(port)));
  await until(() => w.origins().length === 3, 'an event after a bookmark');
  t.same(new Set(await Promise.all([w.call(), w.call(), w.call()])).size, 3, 'every pod answers');

  // Cut rather than ended (a load balancer, a crashed apiserver replica): reopened, not an outage.
  w.api.cutWatches();
  w.api.remove('catalog-b');
  await until(() => w.origins().length === 1, 'the change made while the watch was cut');
  t.same([w.api.counts.lists, w.errors, w.status().state], [1, [], 'watching'], 'still one list, no error');
});

t.test('410 Gone: listed again, then watched from the new list', async (t) => {
  const w = await world(t, '{ service: catalog, namespace: shop, port: http }', (api, port) => api.apply(slice('catalog-a', 'catalog', [['127.0.0.2', true]], http(port))));
  const port = w.pods.port;
  await until(() => w.api.openWatches === 1, 'the watch to open');
  w.api.expire();
  w.api.apply(slice('catalog-b', 'catalog', [['127.0.0.3', true]], http(port)));
  await until(() => w.api.counts.lists === 2 && w.api.openWatches === 1, 'a second list and a new watch');
  t.same(w.origins(), at(port, '127.0.0.2', '127.0.0.3'), 'the relist has the change the expired watch missed');
  w.api.remove('catalog-a');
  await until(() => w.origins().length === 1, 'an event on the new watch');
  t.same(w.origins(), at(port, '127.0.0.3'));
  t.same(w.errors, [], '410 is routine, not an error');

  // The other form: the watch request itself answered 410 (a re-watch after the history went).
  await until(() => w.api.openWatches === 1, 'the new watch');
  w.api.dropWatches();
  w.api.apply(slice('catalog-c', 'catalog', [['127.0.0.4', true]], http(port)));
  w.api.expire(true);
  await until(() => w.api.counts.lists === 3 && w.origins().length === 2, 'a relist after an HTTP 410');
  t.same(w.errors, [], 'no error either');
});

t.test('the API server down for a while: the last good set stays and serves, one error, then recovery', async (t) => {
  const w = await world(t, '{ service: catalog, namespace: shop, port: http }', (api, port) =>
    api.apply(slice('catalog-a', 'catalog', [['127.0.0.2', true], ['127.0.0.3', true]], http(port))),
  );
  const port = w.pods.port;
  await until(() => w.api.openWatches === 1, 'the watch to open');
  await w.api.down();
  await until(() => (w.status().failures ?? 0) >= 3, 'three failed tries');
  t.match(w.status(), { state: 'failing', endpoints: 2, error: /endpointslices/, failingSince: /^\d{4}-/ });
  t.same(w.origins(), at(port, '127.0.0.2', '127.0.0.3'), 'the last good endpoints stay');
  t.same(new Set([await w.call(), await w.call()]).size, 2, 'and both still serve');
  t.equal(w.errors.length, 1, 'reported once, however many retries');

  w.api.apply(slice('catalog-a', 'catalog', [['127.0.0.3', true], ['127.0.0.4', true]], http(port)));
  await w.api.up();
  await until(() => w.status().state === 'watching', 'recovery');
  await until(() => w.origins().join() === at(port, '127.0.0.3', '127.0.0.4').join(), 'the change made during the outage');
  t.same(w.recoveries.length, 1, 'the recovery is reported once');
  t.notOk(w.status().error, 'the error is cleared');
  t.equal(w.api.counts.lists, 1, 'resumed from the resourceVersion: no relist');
  t.same(new Set([await w.call(), await w.call()]), new Set(['127.0.0.3', '127.0.0.4']), 'both pods serve');
});

t.test('forbidden (no RBAC) at start: start() returns, no endpoints, the error in status; fixed: recovers', async (t) => {
  const w = await world(t, '{ service: catalog, namespace: shop, port: http }', (api, port) => {
    api.apply(slice('catalog-a', 'catalog', [['127.0.0.2', true]], http(port)));
    api.forbid(true);
  });
  t.same(w.origins(), [], 'no endpoints');
  t.match(w.status(), { state: 'failing', endpoints: 0, lastSync: null, error: /HTTP 403: endpointslices\.discovery\.k8s\.io is forbidden/ });
  t.equal(w.errors.length, 1);
  w.api.forbid(false);
  await until(() => w.origins().length === 1, 'the first list once allowed');
  t.equal(w.status().state, 'watching');
  t.same(w.recoveries, [1]);

  // Refused on a watch (not a list), and an ERROR event that is not 410: failures, then recovery.
  await until(() => w.api.openWatches === 1, 'the watch');
  w.api.forbid(true);
  w.api.dropWatches();
  await until(() => w.status().state === 'failing', 'the refused watch');
  t.match(w.status().error, /^watch \/apis\/discovery\.k8s\.io\/v1\/namespaces\/shop\/endpointslices: HTTP 403 Forbidden$/);
  w.api.forbid(false);
  await until(() => w.api.openWatches === 1 && w.status().state === 'watching', 'the watch allowed again');
  w.api.failWatches(500, 'etcdserver: leader changed');
  await until(() => w.recoveries.length === 3, 'the failure and the recovery after it');
  t.same(w.errors.slice(1), ['watch /apis/discovery.k8s.io/v1/namespaces/shop/endpointslices: HTTP 403 Forbidden', 'watch /apis/discovery.k8s.io/v1/namespaces/shop/endpointslices: etcdserver: leader changed']);
  t.same(w.origins(), at(w.pods.port, '127.0.0.2'), 'the endpoints stayed throughout');
});

t.test('an API server that accepts and never answers: each request has a deadline', async (t) => {
  const w = await world(t, '{ service: catalog, namespace: shop, port: http }', (api, port) => {
    api.apply(slice('catalog-a', 'catalog', [['127.0.0.2', true]], http(port)));
    api.stall(true);
  }, { requestTimeoutMs: 200 });
  // start() waits for the first list at most requestTimeoutMs (15 s by default), not for ever.
  t.match(w.status(), { state: /^(starting|failing)$/, endpoints: 0 }, 'start() returned without an answer');
  await until(() => w.status().state === 'failing', 'the list deadline');
  t.match(w.status().error, /^GET \/apis\/discovery\.k8s\.io\/v1\/namespaces\/shop\/endpointslices: no answer within 200 ms$/);
  w.api.stall(false);
  await until(() => w.origins().length === 1 && w.api.openWatches === 1, 'the list and watch once answered');
  w.api.stall(true);
  w.api.dropWatches();
  await until(() => w.status().state === 'failing', 'the unanswered watch');
  t.match(w.status().error, /^watch \/apis\/discovery\.k8s\.io\/v1\/namespaces\/shop\/endpointslices: no answer within 200 ms$/);
  t.equal(w.origins().length, 1, 'the endpoint stays');
  w.api.stall(false);
  await until(() => w.status().state === 'watching', 'recovery');
  t.same([w.errors.length, w.recoveries.length], [2, 2]);
});

t.test('a port given by number: the Service is read to find its name', async (t) => {
  const w = await world(t, '{ service: catalog, namespace: shop, port: 80 }', (api, port) => {
    api.setService('shop', 'catalog', [{ name: 'metrics', port: 9090 }, { name: 'web', port: 80, protocol: 'TCP' }]);
    api.apply(slice('catalog-a', 'catalog', [['127.0.0.2', true]], { name: 'web', port }));
  });
  t.same(w.origins(), at(w.pods.port, '127.0.0.2'), 'Service port 80 is named web: the pods\' web port');
  t.equal(w.api.counts.services, 1);
});

t.test('a port number the Service does not have, a name no slice has, a Service that is missing', async (t) => {
  const none = await world(t, '{ service: catalog, namespace: shop, port: 8080 }', (api, port) => {
    api.setService('shop', 'catalog', [{ name: 'web', port: 80 }]);
    api.apply(slice('catalog-a', 'catalog', [['127.0.0.2', true]], { name: 'web', port }));
  });
  t.match(none.status(), { state: 'watching', endpoints: 0, note: 'Service shop/catalog has no TCP port 8080' });
  const unnamed = await world(t, '{ service: catalog, namespace: shop, port: grpc }', (api, port) => api.apply(slice('catalog-a', 'catalog', [['127.0.0.2', true]], { name: 'web', port })));
  t.match(unnamed.status(), { endpoints: 0, note: 'no EndpointSlice of Service shop/catalog has a port named "grpc" (they have: "web")' });
  const unready = await world(t, '{ service: catalog, namespace: shop, port: web }', (api, port) => api.apply(slice('catalog-a', 'catalog', [['127.0.0.2', false]], { name: 'web', port })));
  t.match(unready.status(), { endpoints: 0, note: 'Service shop/catalog has no ready pods' });
  const missing = await world(t, '{ service: gone, namespace: shop, port: 80 }', () => undefined);
  t.match(missing.status(), { state: 'failing', error: /GET \/api\/v1\/namespaces\/shop\/services\/gone: HTTP 404: services "gone" not found/ });
});
