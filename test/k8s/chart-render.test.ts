/**
 * The chart rendered by the real `helm template` (Helm 4, test/k8s/fixtures/helm.ts) with
 * values.yaml and with each example, every object checked against the Kubernetes OpenAPI
 * schemas (no unknown field either), and the manifests checked: the native sidecar,
 * its probes, ports, security context and policy mount; the app's HTTP_PROXY/NO_PROXY,
 * NODE_USE_ENV_PROXY and (opt-in) JAVA_TOOL_OPTIONS, and * preStop; the grace period against the drain; the Service; the policy ConfigMap, whose file
 * passes the real `outrider validate` and agrees with every port the manifests name; the
 * checksum annotation only when asked; an existing ConfigMap; ServiceMonitor; NetworkPolicy.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { parse as parseYaml } from 'yaml';
import { helmNotes, helmTemplate, helmValues, type HelmOptions, type Manifest } from './fixtures/helm.js';
import { CHART_DIR, EXAMPLE_PATTERNS, examplePath, exampleFiles, validatePolicies } from './fixtures/chart.js';
import { schemaProblems } from '../../scripts/k8s-schemas.js';

/* eslint-disable @typescript-eslint/no-explicit-any -- manifests are free-form YAML; the checks say what they expect */
type Any = any;

interface Rendered {
  readonly release: string;
  readonly manifests: Manifest[];
  /** The values the templates saw (Helm's coalescing of values.yaml and the options'). */
  readonly values: Record<string, unknown>;
}

const chartYaml = parseYaml(readFileSync(join(CHART_DIR, 'Chart.yaml'), 'utf8')) as { appVersion: string };
const render = (options: HelmOptions): Rendered => ({ release: options.release ?? 'demo', manifests: helmTemplate(CHART_DIR, options), values: helmValues(CHART_DIR, options) });
const renderWith = (yaml = '', options: HelmOptions = {}): Rendered => render({ ...options, values: [yaml] });
const find = (r: Rendered, kind: string, nameSuffix = ''): Any =>
  r.manifests.find((m) => m.doc.kind === kind && String((m.doc.metadata as Any)?.name).endsWith(nameSuffix))?.doc;
const kinds = (r: Rendered): string[] => r.manifests.map((m) => String(m.doc.kind)).sort();
const portOf = (address: string): number => Number(address.split(':').at(-1));
const policyOf = (r: Rendered): string => (find(r, 'ConfigMap') as Any).data['outrider.yaml'] as string;
/** The app's Service (the admin one carries app.kubernetes.io/component: admin). */
const appService = (r: Rendered): Any => r.manifests.find((m) => m.doc.kind === 'Service' && !(m.doc.metadata as Any).labels['app.kubernetes.io/component'])?.doc;
const selects = (selector: Record<string, string>, labels: Record<string, string> = {}): boolean => Object.entries(selector).every(([k, v]) => labels[k] === v);
const METADATA_HOSTS = ['169.254.169.254', '169.254.170.2'];

/** The facts every rendering must keep, whatever the values. */
async function checkRendering(t: Test, r: Rendered, label: string): Promise<void> {
  const v = r.values as Any;
  for (const { doc, source } of r.manifests) {
    t.same(await schemaProblems(doc), [], `${label} ${source}: ${String(doc.kind)} passes the Kubernetes schema, no unknown field`);
    const meta = doc.metadata as Any;
    t.match(meta.name, /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, `${label} ${source}: name ${meta.name} is a DNS label`);
    t.ok(String(meta.name).length <= 63, `${label} ${source}: name fits 63 characters`);
    for (const key of ['helm.sh/chart', 'app.kubernetes.io/instance', 'app.kubernetes.io/version', 'app.kubernetes.io/managed-by']) {
      t.ok(meta.labels?.[key], `${label} ${source}: label ${key}`);
    }
    // Every object but the helm test pod, which must not carry the selector labels.
    if (meta.labels?.['app.kubernetes.io/component'] !== 'test') t.ok(meta.labels?.['app.kubernetes.io/name'], `${label} ${source}: label app.kubernetes.io/name`);
  }
  const deployment = find(r, 'Deployment');
  const pod = deployment.spec.template.spec;
  const selector = deployment.spec.selector.matchLabels;
  for (const [k, val] of Object.entries(selector)) t.equal(deployment.spec.template.metadata.labels[k], val, `${label}: the pod template carries selector label ${k}`);

  // The native sidecar.
  t.equal(pod.initContainers.length, 1, `${label}: one init container`);
  const sidecar = pod.initContainers[0];
  t.equal(sidecar.name, 'outrider');
  t.equal(sidecar.restartPolicy, 'Always', `${label}: a native sidecar (restartPolicy: Always)`);
  t.same(sidecar.args, ['--config', '/etc/outrider/outrider.yaml']);
  const ports = Object.fromEntries(sidecar.ports.map((p: Any) => [p.name, p.containerPort]));
  t.same(ports, { inbound: v.sidecar.ports.inbound, admin: v.sidecar.ports.admin }, `${label}: container ports`);
  t.same(sidecar.startupProbe.httpGet, { path: '/readyz', port: v.sidecar.ports.admin }, `${label}: the startup probe gates the app on /readyz`);
  t.same(sidecar.readinessProbe.httpGet, { path: '/readyz', port: v.sidecar.ports.admin });
  t.same(sidecar.livenessProbe.httpGet, { path: '/healthz', port: v.sidecar.ports.admin });
  t.equal(sidecar.securityContext.readOnlyRootFilesystem, true, `${label}: read-only root`);
  t.equal(sidecar.securityContext.allowPrivilegeEscalation, false);
  t.same(sidecar.securityContext.capabilities.drop, ['ALL']);
  t.equal(sidecar.securityContext.runAsNonRoot, true);
  t.ok(sidecar.resources.requests.cpu && sidecar.resources.requests.memory && sidecar.resources.limits.memory, `${label}: sidecar resources`);
  const mount = sidecar.volumeMounts.find((m: Any) => m.mountPath === '/etc/outrider');
  t.ok(mount?.readOnly, `${label}: the policy folder is mounted read-only`);
  t.notOk(mount?.subPath, `${label}: no subPath (it would freeze the file: no ConfigMap updates)`);
  const volume = pod.volumes.find((vol: Any) => vol.name === mount?.name);
  t.ok(volume?.configMap?.name, `${label}: the policy volume is a ConfigMap`);

  // The app.
  t.equal(pod.containers.length, 1);
  const app = pod.containers[0];
  const env = Object.fromEntries(app.env.map((e: Any) => [e.name, e.value]));
  const proxy = `http://127.0.0.1:${v.sidecar.ports.outbound}`;
  t.equal(env.HTTP_PROXY, proxy, `${label}: HTTP_PROXY is the outbound listener`);
  t.equal(env.http_proxy, proxy, `${label}: so is http_proxy (curl reads only the lower-case one)`);
  t.equal(env.NO_PROXY, env.no_proxy);
  t.same(String(env.NO_PROXY).split(',').slice(0, 5), ['localhost', '127.0.0.1', '::1', ...METADATA_HOSTS], `${label}: loopback and the cloud metadata addresses bypass the proxy`);
  t.equal(env.NODE_USE_ENV_PROXY, '1', `${label}: Node.js 24 reads HTTP_PROXY only with NODE_USE_ENV_PROXY=1`);
  if (v.app.javaProxy.enabled) {
    t.match(env.JAVA_TOOL_OPTIONS, new RegExp(`^-Dhttp\\.proxyHost=127\\.0\\.0\\.1 -Dhttp\\.proxyPort=${v.sidecar.ports.outbound} -Dhttp\\.nonProxyHosts=localhost\\|127\\.0\\.0\\.1\\|\\[::1\\]\\|169\\.254\\.169\\.254\\|169\\.254\\.170\\.2( |\\||$)`), `${label}: JAVA_TOOL_OPTIONS has the proxy and NO_PROXY as system properties`);
  } else {
    t.notOk('JAVA_TOOL_OPTIONS' in env, `${label}: no JAVA_TOOL_OPTIONS unless app.javaProxy.enabled`);
  }
  for (const host of v.app.noProxy) t.ok(String(env.NO_PROXY).split(',').includes(host), `${label}: NO_PROXY has ${host}`);
  const sleep = v.app.preStopSleepSeconds;
  if (sleep > 0) t.equal(app.lifecycle.preStop.sleep.seconds, sleep, `${label}: the app's preStop sleep`);
  else t.notOk(app.lifecycle, `${label}: no preStop when the sleep is 0`);
  t.equal(app.securityContext.allowPrivilegeEscalation, false);

  // Grace: the app's sleep and shutdown, then Outrider's drain, fit in the grace period.
  const grace = pod.terminationGracePeriodSeconds;
  t.type(grace, 'number');
  t.ok(grace >= v.app.preStopSleepSeconds + v.app.shutdownSeconds + v.sidecar.drainTimeoutSeconds, `${label}: grace ${grace}s covers preStop + shutdown + drain`);

  // The Service, named after the release, targets the inbound listener by name and selects the
  // Deployment's pods, and no other pod (the helm test pod would be an endpoint).
  const service = appService(r);
  t.equal(service.metadata.name, v.service.name || r.release, `${label}: the Service is named ${v.service.name ? 'service.name' : 'after the release'}`);
  t.same(service.spec.selector, selector, `${label}: the Service selects the Deployment's pods`);
  t.equal(service.spec.ports[0].targetPort, 'inbound', `${label}: the Service targets the inbound listener by its port name`);
  t.equal(sidecar.ports.find((p: Any) => p.name === 'inbound')?.containerPort, v.sidecar.ports.inbound, `${label}: the port named inbound is the inbound listener's`);
  t.notOk(app.ports?.some((p: Any) => p.name === 'inbound'), `${label}: the app has no port of that name`);
  for (const other of r.manifests.filter((m) => m.doc.kind === 'Pod')) {
    t.notOk(selects(service.spec.selector, (other.doc.metadata as Any).labels), `${label} ${other.source}: the Service does not select this pod`);
  }
  // Prometheus annotations unless turned off.
  const annotations = deployment.spec.template.metadata.annotations ?? {};
  if (v.metrics.podAnnotations) {
    t.match(annotations, { 'prometheus.io/scrape': 'true', 'prometheus.io/port': String(v.sidecar.ports.admin), 'prometheus.io/path': '/metrics' }, `${label}: prometheus.io annotations name the admin port`);
  } else {
    t.notOk(Object.keys(annotations).some((k) => k.startsWith('prometheus.io/')), `${label}: no prometheus.io annotations`);
  }
}

t.test('values.yaml renders the Deployment, Service, ConfigMap, ServiceAccount and test pod', async (t) => {
  const r = renderWith();
  t.same(kinds(r), ['ConfigMap', 'Deployment', 'Pod', 'Service', 'ServiceAccount']);
  await checkRendering(t, r, 'defaults');
  const pod = find(r, 'Deployment').spec.template.spec;
  t.equal(pod.terminationGracePeriodSeconds, 5 + 10 + 20 + 5, 'the computed grace period');
  t.equal(pod.initContainers[0].image, `outrider:${chartYaml.appVersion}`, 'the image tag defaults to appVersion');
  t.notOk(find(r, 'Deployment').spec.template.metadata.annotations['checksum/policy'], 'no checksum annotation by default: Outrider reloads in place');
  t.equal(pod.serviceAccountName, find(r, 'ServiceAccount').metadata.name);
  const test = find(r, 'Pod');
  t.equal(test.metadata.annotations['helm.sh/hook'], 'test');
  t.equal(find(r, 'Service').metadata.name, 'demo', 'the Service is named after the release');
  t.equal(test.spec.containers[0].args[1], 'http://demo:80/', 'helm test GETs the Service');
  t.same(test.metadata.labels, { 'helm.sh/chart': 'outrider-0.1.0', 'app.kubernetes.io/version': chartYaml.appVersion, 'app.kubernetes.io/managed-by': 'Helm', 'app.kubernetes.io/instance': 'demo', 'app.kubernetes.io/component': 'test' }, 'the test pod carries no app.kubernetes.io/name, so no selector matches it');
  t.match(helmNotes(CHART_DIR), /port-forward service\/demo 8080:80/);
});

t.test('the policy of values.yaml and of every example passes outrider validate and agrees with the manifests', async (t) => {
  const cases: [string, Rendered][] = [['values.yaml', renderWith()], ...exampleFiles().map((f): [string, Rendered] => [f, render({ files: [examplePath(f)] })])];
  const results = await validatePolicies(cases.map(([, r]) => policyOf(r)));
  for (const [i, [label, r]] of cases.entries()) {
    const result = results[i] as { code: number | null; stdout: string; stderr: string };
    t.equal(result.code, 0, `${label}: outrider validate: ${result.stdout}${result.stderr}`);
    const pattern = EXAMPLE_PATTERNS[label];
    if (pattern !== undefined) t.match(result.stdout, new RegExp(`patterns: .*\\b${pattern}\\b`), `${label} shows ${pattern}`);
    await checkRendering(t, r, label);

    const v = r.values as Any;
    const policy = parseYaml(policyOf(r)) as Any;
    const listeners = Object.fromEntries(policy.listeners.map((l: Any) => [l.name, l.address]));
    t.equal(listeners.outbound, `127.0.0.1:${v.sidecar.ports.outbound}`, `${label}: outbound on loopback, the port HTTP_PROXY names`);
    t.equal(portOf(listeners.inbound), v.sidecar.ports.inbound, `${label}: inbound on the port the Service targets`);
    t.equal(portOf(policy.admin.address), v.sidecar.ports.admin, `${label}: admin on the port the probes use`);
    t.match(policy.admin.address, /^0\.0\.0\.0:/, `${label}: admin reachable by kubelet probes on the pod IP`);
    t.equal(policy.drainTimeout, `${v.sidecar.drainTimeoutSeconds}s`, `${label}: drainTimeout is the one the grace period counts`);
    const inboundRoute = policy.routes.find((route: Any) => route.listener === 'inbound');
    t.ok(inboundRoute, `${label}: a route serves the inbound listener`);
    t.match(policy.upstreams[inboundRoute.upstream].endpoints[0], /^http:\/\/127\.0\.0\.1:\d+$/, `${label}: inbound goes to the app on loopback`);
    for (const route of policy.routes) {
      if (route.name !== inboundRoute.name) t.equal(route.listener, 'outbound', `${label}: route ${route.name} is scoped to the outbound listener`);
    }
  }
});

t.test('rollOnChange adds a checksum of the policy, which follows the policy', async (t) => {
  const on = 'policyConfigMap: { rollOnChange: true }\n';
  const a = find(renderWith(on), 'Deployment').spec.template.metadata.annotations?.['checksum/policy'];
  const same = find(renderWith(on), 'Deployment').spec.template.metadata.annotations?.['checksum/policy'];
  const b = find(renderWith(`${on}policy: { defaults: { timeout: 3s } }\n`), 'Deployment').spec.template.metadata.annotations?.['checksum/policy'];
  const c = find(renderWith(`${on}sidecar: { drainTimeoutSeconds: 30 }\n`), 'Deployment').spec.template.metadata.annotations?.['checksum/policy'];
  t.match(a, /^[0-9a-f]{64}$/);
  t.equal(a, same, 'stable for the same policy');
  t.not(a, b, 'a policy change changes it');
  t.not(a, c, 'a drainTimeout change (written into the policy) changes it');
  const kept = find(renderWith(`${on}podAnnotations: { team: shop }\n`), 'Deployment').spec.template.metadata.annotations;
  t.same(Object.keys(kept).sort(), ['checksum/policy', 'prometheus.io/path', 'prometheus.io/port', 'prometheus.io/scrape', 'team'], 'pod annotations stay beside it');
});

t.test('an existing ConfigMap: none rendered, mounted by name, its key mapped to outrider.yaml', async (t) => {
  const r = renderWith('policyConfigMap: { existing: shop-policy, key: policy.yaml, rollOnChange: true }\n');
  t.same(kinds(r), ['Deployment', 'Pod', 'Service', 'ServiceAccount']);
  const pod = find(r, 'Deployment').spec.template.spec;
  t.same(pod.volumes.find((v: Any) => v.name === 'policy').configMap, { name: 'shop-policy', items: [{ key: 'policy.yaml', path: 'outrider.yaml' }] });
  t.notOk(find(r, 'Deployment').spec.template.metadata.annotations['checksum/policy'], 'no checksum: the chart cannot see that policy');
  t.match(helmNotes(CHART_DIR, { values: ['policyConfigMap: { existing: shop-policy, key: policy.yaml }\n'] }), /key policy\.yaml of ConfigMap shop-policy/);
  const plain = find(renderWith('policyConfigMap: { existing: shop-policy }\n'), 'Deployment').spec.template.spec;
  t.same(plain.volumes.find((v: Any) => v.name === 'policy').configMap, { name: 'shop-policy' }, 'the default key needs no items');
});

t.test('ServiceMonitor: a headless admin Service and a ServiceMonitor that selects it', async (t) => {
  const r = renderWith('metrics: { serviceMonitor: { enabled: true, labels: { release: prometheus } } }\n');
  const admin = find(r, 'Service', '-admin');
  const monitor = find(r, 'ServiceMonitor');
  t.equal(admin.spec.clusterIP, 'None');
  t.equal(admin.spec.ports[0].targetPort, 'admin', 'by the port name');
  for (const [k, v] of Object.entries(monitor.spec.selector.matchLabels)) t.equal(admin.metadata.labels[k], v, `the ServiceMonitor's selector ${k} matches the admin Service`);
  t.notOk(appService(r).metadata.labels['app.kubernetes.io/component'], 'the app Service is not selected by it');
  t.equal(monitor.spec.endpoints[0].port, admin.spec.ports[0].name);
  t.equal(monitor.spec.endpoints[0].path, '/metrics');
  t.equal(monitor.metadata.labels.release, 'prometheus');
  t.equal(monitor.apiVersion, 'monitoring.coreos.com/v1');
});

t.test('NetworkPolicy: in only through the inbound listener; admin only from the listed peers', async (t) => {
  const open = find(renderWith('networkPolicy: { enabled: true }\n'), 'NetworkPolicy');
  t.same(open.spec.ingress, [{ ports: [{ port: 15006, protocol: 'TCP' }] }], 'inbound from anywhere, nothing else (the app port is closed)');
  const scoped = find(renderWith('networkPolicy:\n  enabled: true\n  inboundFrom: [ { namespaceSelector: { matchLabels: { team: shop } } } ]\n  adminFrom: [ { namespaceSelector: { matchLabels: { kubernetes.io/metadata.name: monitoring } } } ]\n'), 'NetworkPolicy');
  t.same(scoped.spec.ingress[0].from, [{ namespaceSelector: { matchLabels: { team: 'shop' } } }]);
  t.same(scoped.spec.ingress[1], { ports: [{ port: 9901, protocol: 'TCP' }], from: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'monitoring' } } }] });
});

t.test('values that change the manifests', async (t) => {
  const r = renderWith(
    'sidecar:\n  ports: { inbound: 8443, outbound: 3128, admin: 15000 }\n  drainTimeoutSeconds: 45\n  image: { repository: registry.example/outrider, digest: "sha256:' + 'a'.repeat(64) + '" }\n' +
      'app:\n  preStopSleepSeconds: 0\n  noProxy: [kubernetes.default.svc]\n  env: [ { name: PORT, value: "8080" } ]\n',
  );
  await checkRendering(t, r, 'custom');
  const pod = find(r, 'Deployment').spec.template.spec;
  t.equal(pod.initContainers[0].image, `registry.example/outrider@sha256:${'a'.repeat(64)}`, 'a digest wins over the tag');
  t.equal(pod.terminationGracePeriodSeconds, 0 + 10 + 45 + 5);
  t.same(pod.containers[0].env.at(-1), { name: 'PORT', value: '8080' }, "the app's own env after the proxy variables");
  const policy = parseYaml(policyOf(r)) as Any;
  t.same(policy.listeners.map((l: Any) => l.address), ['127.0.0.1:3128', '0.0.0.0:8443'], 'the listeners follow sidecar.ports');
  t.same([policy.admin.address, policy.drainTimeout], ['0.0.0.0:15000', '45s'], 'so do admin and drainTimeout');
  t.equal(find(renderWith('terminationGracePeriodSeconds: 120\n'), 'Deployment').spec.template.spec.terminationGracePeriodSeconds, 120, 'an explicit, long enough grace');
  t.throws(() => renderWith('terminationGracePeriodSeconds: 30\n'), /terminationGracePeriodSeconds \(30\) is less than .* \(40\)/, 'a grace period shorter than the drain fails the render');
  t.equal(find(renderWith('fullnameOverride: shop\n'), 'Deployment').metadata.name, 'shop');
  t.equal(find(renderWith('', { release: 'outrider-prod' }), 'Deployment').metadata.name, 'outrider-prod', 'a release name that contains the chart name is used alone');
  t.equal(find(renderWith('fullnameOverride: ' + 'x'.repeat(70) + '\n'), 'Deployment').metadata.name.length, 63, 'long names are cut to 63');
  t.same(kinds(renderWith('tests: { enabled: false }\nserviceAccount: { create: false }\n')), ['ConfigMap', 'Deployment', 'Service']);
});

t.test('PodMonitor: the pods admin port, no Service; not with a ServiceMonitor', async (t) => {
  const r = renderWith('metrics: { podMonitor: { enabled: true, interval: 15s, labels: { release: prometheus } } }\n');
  await checkRendering(t, r, 'podMonitor');
  const monitor = find(r, 'PodMonitor');
  const deployment = find(r, 'Deployment');
  t.same(monitor.spec.selector.matchLabels, deployment.spec.selector.matchLabels, "it selects the Deployment's pods");
  t.same(monitor.spec.podMetricsEndpoints, [{ port: 'admin', path: '/metrics', interval: '15s', scrapeTimeout: '10s' }]);
  t.ok(deployment.spec.template.spec.initContainers[0].ports.some((p: Any) => p.name === 'admin'), 'the sidecar has the port it names');
  t.equal(monitor.metadata.labels.release, 'prometheus');
  t.notOk(find(r, 'Service', '-admin'), 'no admin Service');
  const both = 'metrics: { podMonitor: { enabled: true }, serviceMonitor: { enabled: true } }\n';
  t.throws(() => renderWith(both), /values don't meet the specifications of the schema[\s\S]*at '\/metrics': 'not' failed/, 'the schema rejects both');
  t.throws(() => renderWith(both, { args: ['--skip-schema-validation'] }), /both enabled: Prometheus would scrape each pod twice/, 'so does the template');
  const quiet = renderWith('metrics: { podAnnotations: false }\n');
  await checkRendering(t, quiet, 'no annotations');
  t.notOk(find(quiet, 'Deployment').spec.template.metadata.annotations, 'no pod annotations at all');
});

t.test('targetPort by name from Kubernetes 1.32 (named ports of native sidecars), by number before', async (t) => {
  const old = renderWith('metrics: { serviceMonitor: { enabled: true } }\n', { args: ['--kube-version', '1.31.4'] });
  t.equal(appService(old).spec.ports[0].targetPort, 15006, '1.31: the inbound port number');
  t.equal(find(old, 'Service', '-admin').spec.ports[0].targetPort, 9901, '1.31: the admin port number');
  const eks = renderWith('metrics: { serviceMonitor: { enabled: true } }\n', { args: ['--kube-version', 'v1.32.0-eks-1234'] });
  t.same([appService(eks).spec.ports[0].targetPort, find(eks, 'Service', '-admin').spec.ports[0].targetPort], ['inbound', 'admin'], '1.32 (a vendor build): by name');
  t.throws(() => renderWith('', { args: ['--kube-version', '1.29.0'] }), /incompatible with Kubernetes v1\.29\.0/, "below the chart's kubeVersion: no render");
});

t.test('the Service name: the release, or service.name', async (t) => {
  const named = renderWith('service: { name: shop-api }\n', { release: 'shop' });
  await checkRendering(t, named, 'service.name');
  t.equal(appService(named).metadata.name, 'shop-api');
  t.equal(find(named, 'Pod').spec.containers[0].args[1], 'http://shop-api:80/', 'helm test follows it');
  t.match(helmNotes(CHART_DIR, { release: 'shop', values: ['service: { name: shop-api }\n'] }), /port-forward service\/shop-api 8080:80/);
  t.equal(appService(renderWith('', { release: 'shop' })).metadata.name, 'shop', 'a release named after the app keeps the name its callers use');
  t.equal(find(renderWith('', { release: 'shop' }), 'Deployment').metadata.name, 'shop-outrider', 'the other objects keep the full name');
  t.throws(() => renderWith('service: { name: Shop_API }\n'), /at '\/service\/name'/, 'not a DNS label');
});

t.test('JAVA_TOOL_OPTIONS: only when asked, NO_PROXY in Java syntax, extra options kept', async (t) => {
  const r = renderWith('app:\n  javaProxy: { enabled: true, extraOptions: "-Xmx256m -XX:+UseZGC" }\n  noProxy: [.svc.cluster.local, db.internal, 10.0.0.0/8, "fd00::1"]\nsidecar: { ports: { outbound: 3128 } }\n');
  await checkRendering(t, r, 'javaProxy');
  const env = Object.fromEntries(find(r, 'Deployment').spec.template.spec.containers[0].env.map((e: Any) => [e.name, e.value]));
  t.equal(
    env.JAVA_TOOL_OPTIONS,
    '-Dhttp.proxyHost=127.0.0.1 -Dhttp.proxyPort=3128 -Dhttp.nonProxyHosts=localhost|127.0.0.1|[::1]|169.254.169.254|169.254.170.2|*.svc.cluster.local|db.internal|[fd00::1] -Xmx256m -XX:+UseZGC',
    'a leading dot becomes *, IPv6 goes in brackets, a CIDR (which Java cannot express) is left out',
  );
  t.equal(env.NO_PROXY, 'localhost,127.0.0.1,::1,169.254.169.254,169.254.170.2,.svc.cluster.local,db.internal,10.0.0.0/8,fd00::1');
  t.throws(() => renderWith('app:\n  javaProxy: { enabled: true }\n  env: [ { name: JAVA_TOOL_OPTIONS, value: "-Xmx1g" } ]\n'), /at '\/app\/env\/0'/, 'the chart owns JAVA_TOOL_OPTIONS when javaProxy is on');
  const own = renderWith('app:\n  env: [ { name: JAVA_TOOL_OPTIONS, value: "-Xmx1g" } ]\n');
  t.same(find(own, 'Deployment').spec.template.spec.containers[0].env.filter((e: Any) => e.name === 'JAVA_TOOL_OPTIONS'), [{ name: 'JAVA_TOOL_OPTIONS', value: '-Xmx1g' }], 'the app may set its own when it is off');
  t.throws(() => renderWith('app:\n  env: [ { name: NODE_USE_ENV_PROXY, value: "0" } ]\n'), /at '\/app\/env\/0'/, 'the app may not undo NODE_USE_ENV_PROXY');
  t.throws(() => renderWith('app:\n  ports: [ { name: inbound, containerPort: 8080 } ]\n'), /at '\/app\/ports\/0\/name'/, "an app port may not take the sidecar's port names");
});

t.test('every option on (test/k8s/fixtures/all-options*.yaml): the same facts, every object valid', async (t) => {
  const all = join(CHART_DIR, '../../test/k8s/fixtures/all-options.yaml');
  const variant = join(CHART_DIR, '../../test/k8s/fixtures/all-options-variant.yaml');
  const r = render({ files: [all] });
  await checkRendering(t, r, 'all-options');
  t.same(kinds(r), ['ConfigMap', 'Deployment', 'NetworkPolicy', 'Pod', 'Role', 'Role', 'RoleBinding', 'RoleBinding', 'Service', 'Service', 'ServiceAccount', 'ServiceMonitor']);
  const v = render({ files: [all, variant] });
  await checkRendering(t, v, 'all-options-variant');
  t.same(kinds(v), ['Deployment', 'NetworkPolicy', 'Pod', 'PodMonitor', 'Role', 'Role', 'RoleBinding', 'RoleBinding', 'Service', 'ServiceAccount']);
});
