/**
 * scripts/k8s-schemas.ts: objects checked against the Kubernetes OpenAPI schemas (kubernetes-models)
 * catch wrong types, missing required fields, unknown kinds and, beyond what validate() does,
 * unknown fields at any depth, while the keys of maps (labels, data, resources) stay free.
 */
import t from 'tap';
import { schemaProblems } from '../../scripts/k8s-schemas.js';

/* eslint-disable @typescript-eslint/no-explicit-any -- objects are mutated freely to break them */
type Any = any;

const deployment = (): Any => ({
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name: 'shop', labels: { 'app.kubernetes.io/name': 'shop', anything: 'goes' }, annotations: { 'x/y': 'z' } },
  spec: {
    replicas: 2,
    selector: { matchLabels: { app: 'shop' } },
    strategy: { rollingUpdate: { maxSurge: '25%', maxUnavailable: 0 } },
    template: {
      metadata: { labels: { app: 'shop' } },
      spec: {
        initContainers: [
          {
            name: 'outrider',
            image: 'outrider:0.1.0',
            restartPolicy: 'Always',
            ports: [{ name: 'inbound', containerPort: 15006, protocol: 'TCP' }],
            startupProbe: { httpGet: { path: '/readyz', port: 9901 }, periodSeconds: 1 },
            resources: { requests: { cpu: '100m', memory: '96Mi' }, limits: { memory: '256Mi' } },
            securityContext: { runAsUser: 65532, capabilities: { drop: ['ALL'] } },
          },
        ],
        containers: [{ name: 'app', image: 'shop:1', env: [{ name: 'HTTP_PROXY', value: 'http://127.0.0.1:15001' }], lifecycle: { preStop: { sleep: { seconds: 5 } } } }],
      },
    },
  },
});

t.test('valid objects of several kinds have no problems', async (t) => {
  t.same(await schemaProblems(deployment()), [], 'a Deployment with a native sidecar, a preStop sleep and maps of every sort');
  t.same(await schemaProblems({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'p' }, data: { 'outrider.yaml': 'version: 1\n', other: 'x' } }), []);
  t.same(await schemaProblems({ apiVersion: 'v1', kind: 'Service', metadata: { name: 's' }, spec: { selector: { app: 'shop' }, ports: [{ port: 80, targetPort: 'inbound' }] } }), [], 'targetPort by name');
  t.same(
    await schemaProblems({ apiVersion: 'monitoring.coreos.com/v1', kind: 'PodMonitor', metadata: { name: 'm' }, spec: { selector: { matchLabels: { app: 'shop' } }, podMetricsEndpoints: [{ port: 'admin', path: '/metrics' }] } }),
    [],
    'a Prometheus Operator kind',
  );
  const revision = { apiVersion: 'apps/v1', kind: 'ControllerRevision', metadata: { name: 'r' }, revision: 1, data: { free: { form: [1, { json: true }] } } };
  t.same(await schemaProblems(revision), [], 'a free-form field (RawExtension) is not looked into');
});

t.test('unknown fields are found at any depth, with their paths', async (t) => {
  const d = deployment();
  d.spc = {};
  d.metadata.lables = { a: 'b' };
  d.spec.template.spec.containers[0].securityContxt = {};
  d.spec.template.spec.initContainers[0].ports[0].nmae = 'inbound';
  d.spec.template.spec.initContainers[0].startupProbe.httpGet.paht = '/';
  d.spec.template.spec.containers[0].lifecycle.preStop.sleep.secs = 1;
  t.same((await schemaProblems(d)).sort(), [
    '/metadata/lables: unknown field',
    '/spc: unknown field',
    '/spec/template/spec/containers/0/lifecycle/preStop/sleep/secs: unknown field',
    '/spec/template/spec/containers/0/securityContxt: unknown field',
    '/spec/template/spec/initContainers/0/ports/0/nmae: unknown field',
    '/spec/template/spec/initContainers/0/startupProbe/httpGet/paht: unknown field',
  ]);
  const misplaced = deployment();
  misplaced.spec.template.spec.containers[0].initialDelaySeconds = 5; // a probe field on the container
  t.same(await schemaProblems(misplaced), ['/spec/template/spec/containers/0/initialDelaySeconds: unknown field'], 'a field at the wrong depth');
  const monitor = { apiVersion: 'monitoring.coreos.com/v1', kind: 'ServiceMonitor', metadata: { name: 'm' }, spec: { selector: {}, endpoints: [{ port: 'admin', intreval: '30s' }] } };
  t.same(await schemaProblems(monitor), ['/spec/endpoints/0/intreval: unknown field'], 'in a CRD kind too');
});

t.test('wrong types, missing required fields and unknown kinds are problems', async (t) => {
  const d = deployment();
  d.spec.replicas = 'two';
  t.match((await schemaProblems(d)).join('\n'), /spec\/replicas must be integer/);
  const e = deployment();
  delete e.spec.template.spec.containers[0].name;
  t.match((await schemaProblems(e)).join('\n'), /containers\/0 must have required property name/);
  const f = deployment();
  f.spec.template.spec.initContainers[0].ports[0].containerPort = '15006';
  t.match((await schemaProblems(f)).join('\n'), /containerPort must be integer/);
  t.match((await schemaProblems({ apiVersion: 'cert-manager.io/v1', kind: 'Certificate' })).join(''), /no schema for cert-manager\.io\/v1 Certificate/);
  t.match((await schemaProblems({ apiVersion: 'apps/v1', kind: 'Deploymnet' })).join(''), /no schema for apps\/v1 Deploymnet/);
  t.same(await schemaProblems({ kind: 'Pod' }), ['no apiVersion or kind']);
  t.same(await schemaProblems([]), ['not an object']);
});
