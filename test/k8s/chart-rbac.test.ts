/**
 * The chart's RBAC for `kubernetes:` upstreams (templates/rbac.yaml, templates/_discovery.tpl),
 * rendered by the real `helm template` (test/k8s/fixtures/helm.ts) and every object checked
 * against the Kubernetes schemas: a Role (get/list/watch endpointslices, get services) and a
 * RoleBinding to the chart's service account, in each namespace the policy's `kubernetes:`
 * upstreams name, only when it has one or when rbac.endpointSlices says so (a policy in an
 * existing ConfigMap); and a service account token mounted into the sidecar alone when the pod
 * mounts none.
 */
import t from 'tap';
import { parse as parseYaml } from 'yaml';
import { schemaProblems } from '../../scripts/k8s-schemas.js';
import { CHART_DIR, describeErrors, validatePolicies, valuesValidator } from './fixtures/chart.js';
import { helmTemplate, helmValues, tryHelmTemplate, type Manifest } from './fixtures/helm.js';

/* eslint-disable @typescript-eslint/no-explicit-any -- manifests are free-form YAML; the checks say what they expect */
type Any = any;

interface Rendered {
  readonly manifests: Manifest[];
}

const renderWith = (yaml: string): Rendered => ({ manifests: helmTemplate(CHART_DIR, { values: [yaml], namespace: 'shop' }) });
const docs = (r: Rendered, kind: string): Any[] => r.manifests.filter((m) => m.doc.kind === kind).map((m) => m.doc);
const pod = (r: Rendered): Any => (docs(r, 'Deployment')[0] as Any).spec.template.spec;
const SA_PATH = '/var/run/secrets/kubernetes.io/serviceaccount';

const DISCOVERING = `policy:
  upstreams:
    catalog: { kubernetes: { service: catalog, port: http } }
    payments: { kubernetes: { service: payments, namespace: pay, port: 8443 } }
    cart: { kubernetes: { service: cart, namespace: shop, port: http } }
  routes:
    - { name: app, listener: inbound, match: { pathPrefix: / }, upstream: local-app }
    - { name: catalog, listener: outbound, match: { host: catalog }, upstream: catalog }
`;

t.test('no kubernetes: upstream (the defaults): no Role, no RoleBinding, no token', async (t) => {
  const r = renderWith('');
  t.same([docs(r, 'Role'), docs(r, 'RoleBinding')], [[], []]);
  t.notOk(pod(r).volumes.some((v: Any) => v.name === 'kube-api-access'), 'no token volume');
  t.equal(pod(r).automountServiceAccountToken, false, 'and none mounted by kubelet');
});

t.test('kubernetes: upstreams: a Role and a RoleBinding in each namespace they watch, and a token for the sidecar only', async (t) => {
  const r = renderWith(DISCOVERING);
  const roles = docs(r, 'Role');
  const bindings = docs(r, 'RoleBinding');
  t.same(roles.map((x) => x.metadata.namespace), ['pay', 'shop'], 'one per namespace: pay (named), shop (named, and the release namespace for catalog)');
  for (const role of roles) {
    t.equal(role.apiVersion, 'rbac.authorization.k8s.io/v1');
    t.same(role.rules, [
      { apiGroups: ['discovery.k8s.io'], resources: ['endpointslices'], verbs: ['get', 'list', 'watch'] },
      { apiGroups: [''], resources: ['services'], verbs: ['get'] },
    ], 'read EndpointSlices; get Services (a port given by number); nothing else');
    t.ok(role.metadata.labels['app.kubernetes.io/instance'], 'the chart labels');
  }
  const account = (docs(r, 'ServiceAccount')[0] as Any).metadata.name;
  t.same(bindings.map((b) => [b.metadata.namespace, b.roleRef, b.subjects]), ['pay', 'shop'].map((ns) => [
    ns,
    { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: roles[0].metadata.name },
    [{ kind: 'ServiceAccount', name: account, namespace: 'shop' }],
  ]), "each binds the Role to the chart's service account in the release namespace");
  t.equal(pod(r).serviceAccountName, account);

  const sidecar = pod(r).initContainers[0];
  t.same(sidecar.volumeMounts.find((m: Any) => m.name === 'kube-api-access'), { name: 'kube-api-access', mountPath: SA_PATH, readOnly: true }, 'the sidecar gets the token where client-node looks');
  t.notOk(pod(r).containers[0].volumeMounts?.some((m: Any) => m.mountPath === SA_PATH), 'the app does not');
  t.equal(pod(r).automountServiceAccountToken, false, 'kubelet mounts none into the app');
  const sources = pod(r).volumes.find((v: Any) => v.name === 'kube-api-access').projected.sources;
  t.same(sources, [
    { serviceAccountToken: { path: 'token', expirationSeconds: 3607 } },
    { configMap: { name: 'kube-root-ca.crt', items: [{ key: 'ca.crt', path: 'ca.crt' }] } },
    { downwardAPI: { items: [{ path: 'namespace', fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.namespace' } }] } },
  ], "what kubelet's own kube-api-access volume holds: a rotated token, the cluster CA, the namespace");

  for (const { doc, source } of r.manifests) t.same(await schemaProblems(doc), [], `${source}: ${String(doc.kind)} passes the Kubernetes schema, no unknown field`);
  const policy = (docs(r, 'ConfigMap')[0] as Any).data['outrider.yaml'] as string;
  t.same((parseYaml(policy) as Any).upstreams.payments.kubernetes, { service: 'payments', namespace: 'pay', port: 8443 });
  const [validated] = await validatePolicies([policy]);
  t.equal(validated?.code, 0, `the rendered policy passes outrider validate: ${validated?.stdout ?? ''}${validated?.stderr ?? ''}`);
});

t.test('a policy in an existing ConfigMap: only rbac.endpointSlices grants it, in rbac.namespaces or the release namespace', async (t) => {
  const hidden = renderWith(`policyConfigMap: { existing: shop-policy }\n${DISCOVERING}`);
  t.same(docs(hidden, 'Role'), [], 'the chart ignores policy then, and grants nothing by itself');
  const asked = renderWith('policyConfigMap: { existing: shop-policy }\nrbac: { endpointSlices: true }\n');
  t.same(docs(asked, 'Role').map((x) => x.metadata.namespace), ['shop'], 'the release namespace');
  t.ok(pod(asked).volumes.some((v: Any) => v.name === 'kube-api-access'), 'and the token');
  const listed = renderWith('policyConfigMap: { existing: shop-policy }\nrbac: { endpointSlices: true, namespaces: [search, catalog] }\n');
  t.same(docs(listed, 'RoleBinding').map((x) => x.metadata.namespace), ['catalog', 'search']);
  const both = renderWith(`rbac: { endpointSlices: true, namespaces: [search, pay] }\n${DISCOVERING}`);
  t.same(docs(both, 'Role').map((x) => x.metadata.namespace), ['pay', 'search', 'shop'], 'with a visible policy: its namespaces and the listed ones, once each');
});

t.test('an automounted token or another service account', async (t) => {
  const mounted = renderWith(`serviceAccount: { automountToken: true }\n${DISCOVERING}`);
  t.equal(docs(mounted, 'Role').length, 2, 'still the RBAC');
  t.notOk(pod(mounted).volumes.some((v: Any) => v.name === 'kube-api-access'), 'but no second token: kubelet mounts one at the same path');
  t.notOk(pod(mounted).initContainers[0].volumeMounts.some((m: Any) => m.name === 'kube-api-access'));
  const other = renderWith(`serviceAccount: { create: false, name: shop-reader }\n${DISCOVERING}`);
  t.same(docs(other, 'RoleBinding').map((b) => b.subjects[0].name), ['shop-reader', 'shop-reader'], 'bound to the account the pod runs as');
  t.same(docs(other, 'ServiceAccount'), [], 'which the chart does not create');
});

t.test('values.schema.json: rbac', async (t) => {
  const validate = valuesValidator();
  const check = (yaml: string): string => describeErrors(validate(helmValues(CHART_DIR, { values: [yaml] })));
  t.equal(check('rbac: { endpointSlices: true, namespaces: [shop, search-v2] }\n'), '', 'valid');
  t.match(check('rbac: { endpointSlices: "yes" }\n'), /endpointSlices must be boolean/);
  t.match(check('rbac: { namespaces: [Shop] }\n'), /namespaces\/0 must match pattern/);
  t.match(check('rbac: { endpointslices: true }\n'), /additionalProperty.*endpointslices/);
  const refused = tryHelmTemplate(CHART_DIR, { values: ['rbac: { namespaces: [Shop] }\n'] });
  t.not(refused.status, 0, 'helm template refuses it too');
  t.match(refused.stderr, /rbac/);
});
