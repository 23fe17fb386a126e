/**
 * The copy-paste manifest of docs/kubernetes.md (adding the sidecar to an existing Deployment
 * by hand) is valid: its objects pass the Kubernetes schemas (no unknown field), its policy
 * passes the real `outrider validate`, and its ports, probes, proxy variables, mounts and
 * grace period agree with that policy, as the chart's do.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { parse as parseYaml, parseAllDocuments } from 'yaml';
import { ROOT, validatePolicies } from './fixtures/chart.js';
import { schemaProblems } from '../../scripts/k8s-schemas.js';

/* eslint-disable @typescript-eslint/no-explicit-any -- manifests are free-form YAML */
type Any = any;

const MARKER = '# docs/kubernetes.md: manual manifest';

t.test('the manual manifest in docs/kubernetes.md', async (t) => {
  const doc = readFileSync(join(ROOT, 'docs/kubernetes.md'), 'utf8');
  const block = /```yaml\n(# docs\/kubernetes\.md: manual manifest[^\n]*\n[\s\S]*?)```/.exec(doc)?.[1];
  t.ok(block, `a yaml block starting with "${MARKER}"`);
  if (block === undefined) return;
  const docs = parseAllDocuments(block, { version: '1.1' }); // as kubectl reads it
  t.same(docs.flatMap((d) => d.errors.map((e) => e.message)), [], 'valid YAML');
  const [configMap, deployment, service] = docs.map((d) => d.toJS() as Any);
  t.same([configMap.kind, deployment.kind, service.kind], ['ConfigMap', 'Deployment', 'Service']);
  for (const object of [configMap, deployment, service]) t.same(await schemaProblems(object), [], `${object.kind} passes the Kubernetes schema, no unknown field`);

  const text = configMap.data['outrider.yaml'] as string;
  const [result] = await validatePolicies([text]);
  t.equal(result?.code, 0, `outrider validate: ${result?.stdout}${result?.stderr}`);
  const policy = parseYaml(text) as Any;
  const port = (name: string): number => Number(policy.listeners.find((l: Any) => l.name === name).address.split(':').at(-1));
  const adminPort = Number(policy.admin.address.split(':').at(-1));
  t.match(policy.admin.address, /^0\.0\.0\.0:/, 'admin on the pod IP, for the probes');

  const pod = deployment.spec.template.spec;
  const sidecar = pod.initContainers[0];
  t.equal(sidecar.restartPolicy, 'Always', 'a native sidecar');
  t.same(sidecar.args, ['--config', '/etc/outrider/outrider.yaml']);
  for (const probe of ['startupProbe', 'readinessProbe', 'livenessProbe']) t.equal(sidecar[probe].httpGet.port, adminPort, `${probe} on the admin port`);
  t.equal(sidecar.startupProbe.httpGet.path, '/readyz');
  t.same(
    Object.fromEntries(sidecar.ports.map((p: Any) => [p.name, p.containerPort])),
    { inbound: port('inbound'), admin: adminPort },
  );
  const mount = sidecar.volumeMounts[0];
  t.equal(mount.mountPath, '/etc/outrider');
  t.notOk(mount.subPath, 'no subPath');
  t.equal(pod.volumes.find((v: Any) => v.name === mount.name).configMap.name, configMap.metadata.name);
  t.equal(sidecar.securityContext.readOnlyRootFilesystem, true);
  t.equal(sidecar.securityContext.runAsUser, 65532);

  const env = Object.fromEntries(pod.containers[0].env.map((e: Any) => [e.name, e.value]));
  t.equal(env.HTTP_PROXY, `http://127.0.0.1:${port('outbound')}`);
  t.equal(env.http_proxy, env.HTTP_PROXY);
  t.same(String(env.NO_PROXY).split(','), ['localhost', '127.0.0.1', '::1', '169.254.169.254', '169.254.170.2'], "NO_PROXY as the chart's default");
  t.equal(env.no_proxy, env.NO_PROXY);
  t.equal(env.NODE_USE_ENV_PROXY, '1');
  const drain = Number(/^(\d+)s$/.exec(policy.drainTimeout)?.[1]);
  const preStop = pod.containers[0].lifecycle.preStop.sleep.seconds as number;
  t.ok(pod.terminationGracePeriodSeconds >= drain + preStop, `grace ${pod.terminationGracePeriodSeconds}s covers preStop ${preStop}s + drain ${drain}s`);
  t.same(service.spec.selector, deployment.spec.template.metadata.labels);
  t.equal(service.spec.ports[0].targetPort, port('inbound'), 'the Service targets the inbound listener');
  const upstream = policy.upstreams[policy.routes.find((r: Any) => r.listener === 'inbound').upstream];
  t.match(upstream.endpoints[0], /^http:\/\/127\.0\.0\.1:/, 'inbound goes to the app on loopback');
});
