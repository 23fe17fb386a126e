/**
 * Discovery as it runs in a pod: KUBERNETES_SERVICE_HOST/PORT, and the service account's
 * token, CA and namespace files (written under a temp folder that stands for
 * /var/run/secrets/kubernetes.io/serviceaccount), against a STAND-IN for the API server
 * (test/helpers/kube-api.ts: a local node:https server speaking the real EndpointSlice
 * list/watch wire format, with test/fixtures/tls certificates and a bearer token; not a real
 * API server). Checks the token is sent, the CA is verified, the namespace defaults to the pod's
 * own (POD_NAMESPACE first, else the file), and the failures say what is missing.
 */
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { loadPolicyText } from '../../src/config/load.js';
import { SERVICE_ACCOUNT_DIR } from '../../src/kubernetes/discovery/kube-api.js';
import type { DiscoveryStatus } from '../../src/kubernetes/discovery/types.js';
import { UpstreamRuntime } from '../../src/upstream/upstream.js';
import { KubeApiStandIn, slice } from '../helpers/kube-api.js';

const TLS = new URL('../fixtures/tls/', import.meta.url).pathname;
const TOKEN = 'eyJ-stand-in-token';

/** A service account folder under a temp prefix, with the files given (kubelet mounts all three). */
function serviceAccount(files: { token?: string; ca?: string; namespace?: string }): string {
  const prefix = mkdtempSync(join(tmpdir(), 'outrider-sa-'));
  const dir = join(prefix, SERVICE_ACCOUNT_DIR);
  mkdirSync(dir, { recursive: true });
  if (files.token !== undefined) writeFileSync(join(dir, 'token'), files.token);
  if (files.ca !== undefined) writeFileSync(join(dir, 'ca.crt'), readFileSync(join(TLS, files.ca)));
  if (files.namespace !== undefined) writeFileSync(join(dir, 'namespace'), files.namespace);
  return prefix;
}

async function discover(t: Test, kubernetes: string, prefix: string, env: NodeJS.ProcessEnv): Promise<UpstreamRuntime> {
  const loaded = loadPolicyText(
    `version: 1
listeners: [ { name: outbound, address: 127.0.0.1:0 } ]
upstreams: { catalog: { kubernetes: ${kubernetes} } }
routes: [ { name: all, upstream: catalog } ]
`,
    'policy.yaml',
  );
  if (!loaded.ok) throw new Error(loaded.issues.map((i) => i.message).join('\n'));
  const upstream = new UpstreamRuntime(loaded.policy.upstreams.get('catalog') as never, {}, {
    discovery: { env, serviceAccountPrefix: prefix, backoffBaseMs: 20, backoffMaxMs: 100, requestTimeoutMs: 2_000 },
  });
  t.teardown(() => upstream.close());
  await upstream.start();
  return upstream;
}

const status = (u: UpstreamRuntime): DiscoveryStatus => u.discoveryStatus() as DiscoveryStatus;

t.test('in a pod: https with the service account CA, the bearer token, the namespace from the file', async (t) => {
  const api = await KubeApiStandIn.start({ tls: { cert: readFileSync(join(TLS, 'server.crt')), key: readFileSync(join(TLS, 'server.key')) }, token: TOKEN });
  t.teardown(() => api.close());
  api.apply(slice('catalog-a', 'catalog', [['10.1.0.7', true]], { name: 'http', port: 8080 }, 'shop'));
  api.apply(slice('catalog-b', 'catalog', [['10.2.0.9', true]], { name: 'http', port: 8080 }, 'other'));
  // loadFromCluster reads these from process.env itself; KUBECONFIG would take precedence.
  const saved = { ...process.env };
  t.teardown(() => void (process.env = saved));
  delete process.env.KUBECONFIG;
  process.env.KUBERNETES_SERVICE_HOST = '127.0.0.1';
  process.env.KUBERNETES_SERVICE_PORT = String(api.port);

  const prefix = serviceAccount({ token: TOKEN, ca: 'ca.crt', namespace: 'shop\n' });
  const own = await discover(t, '{ service: catalog, port: http }', prefix, process.env);
  t.same(own.endpoints.map((e) => e.origin), ['http://10.1.0.7:8080'], 'the pod namespace (shop, from the file)');
  t.match(status(own), { namespace: 'shop', state: 'watching' });

  const downward = await discover(t, '{ service: catalog, port: http }', prefix, { ...process.env, POD_NAMESPACE: 'other' });
  t.same(downward.endpoints.map((e) => e.origin), ['http://10.2.0.9:8080'], 'POD_NAMESPACE wins over the file');
  const given = await discover(t, '{ service: catalog, namespace: other, port: http }', prefix, process.env);
  t.same(given.endpoints.map((e) => e.origin), ['http://10.2.0.9:8080'], 'a namespace given wins over both');

  const wrongToken = await discover(t, '{ service: catalog, port: http }', serviceAccount({ token: 'stale', ca: 'ca.crt', namespace: 'shop' }), process.env);
  t.match(status(wrongToken), { state: 'failing', error: /HTTP 401/ }, 'the token is what authenticates');
  const otherCa = await discover(t, '{ service: catalog, port: http }', serviceAccount({ token: TOKEN, ca: 'other-ca.crt', namespace: 'shop' }), process.env);
  t.match(status(otherCa), { state: 'failing', error: /certificate/i }, 'the API server certificate is verified against ca.crt');
  const noToken = await discover(t, '{ service: catalog, port: http }', serviceAccount({ ca: 'ca.crt', namespace: 'shop' }), process.env);
  t.match(status(noToken), { state: 'failing', error: /in a pod, but there is no service account token at .*\/token: mount one/ });
  t.ok(api.counts.lists >= 3, 'the good credentials listed');
});

t.test('outside a pod with no kubeconfig, or with no namespace anywhere: the error says so', async (t) => {
  const home = mkdtempSync(join(tmpdir(), 'outrider-home-'));
  const nowhere = await discover(t, '{ service: catalog, namespace: shop, port: http }', '/nonexistent', { HOME: home });
  t.match(status(nowhere), { state: 'failing', endpoints: 0, error: /no Kubernetes API server configured/ });
  const noNamespace = await discover(t, '{ service: catalog, port: http }', '/nonexistent', { HOME: home });
  t.match(status(noNamespace), { namespace: undefined, error: /no namespace: give kubernetes\.namespace/ });
  mkdirSync(join(home, '.kube'));
  writeFileSync(join(home, '.kube', 'config'), 'apiVersion: v1\nkind: Config\nclusters: [ { name: c, cluster: { server: "https://127.0.0.1:1" } } ]\nusers: [ { name: u, user: {} } ]\ncontexts: [ { name: x, context: { cluster: c, user: u } } ]\ncurrent-context: x\n');
  const fromHome = await discover(t, '{ service: catalog, namespace: shop, port: http }', '/nonexistent', { HOME: home });
  t.match(status(fromHome), { state: 'failing', error: /GET \/apis\/discovery\.k8s\.io\/v1\/namespaces\/shop\/endpointslices: connect ECONNREFUSED 127\.0\.0\.1:1/ }, '~/.kube/config is used (and port 1 refuses)');
});
