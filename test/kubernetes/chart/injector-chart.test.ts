/**
 * charts/outrider-injector rendered by the real helm (scripts/k8s-tools.ts): `helm lint
 * --strict`, `helm template`, every Kubernetes object checked against the OpenAPI schemas
 * (scripts/k8s-schemas.ts), and what must agree checked for real: the certificate made at
 * install is served by the injector itself (started on the rendered tls.crt and tls.key) and
 * verified the way the API server verifies it (the webhook's caBundle as the only CA, the
 * Service's DNS name); the webhook calls paths the injector serves through the Service that
 * selects its pods; cert-manager replaces the Secret when asked or when its API is present.
 * cert-manager's Issuer and Certificate have no schema here: their fields are checked by hand.
 */
import { spawnSync } from 'node:child_process';
import { X509Certificate, createPrivateKey, createPublicKey } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'node:tls';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { parseAllDocuments } from 'yaml';
import { InjectorServer } from '../../../src/kubernetes/injector/server.js';
import { DEFAULT_IMAGE } from '../../../src/kubernetes/inject/defaults.js';
import { schemaProblems } from '../../../scripts/k8s-schemas.js';
import { capturedLog } from '../injector/fixtures.js';
import { k8sTools } from '../../../scripts/k8s-tools.js';

/* eslint-disable @typescript-eslint/no-explicit-any -- manifests are free-form YAML */
type Any = any;

const CHART = fileURLToPath(new URL('../../../charts/outrider-injector', import.meta.url));
const { helm } = await k8sTools();

function helmRun(args: string[]): { ok: boolean; out: string; err: string } {
  const r = spawnSync(helm, args, { encoding: 'utf8', env: { ...process.env, KUBECONFIG: '/dev/null' } });
  return { ok: r.status === 0, out: r.stdout, err: r.stderr };
}
function render(...args: string[]): Any[] {
  const r = helmRun(['template', 'demo', CHART, '--namespace', 'mesh', ...args]);
  if (!r.ok) throw new Error(r.err);
  return parseAllDocuments(r.out, { version: '1.1' }).map((d) => d.toJS()).filter((d) => d !== null);
}
const one = (docs: Any[], kind: string): Any => {
  const found = docs.filter((d) => d.kind === kind);
  if (found.length !== 1) throw new Error(`${found.length} ${kind}s`);
  return found[0];
};
const flagOf = (args: string[], name: string): string | undefined => args.find((a) => a.startsWith(`${name}=`))?.slice(name.length + 1);
const b64 = (s: string): string => Buffer.from(s, 'base64').toString('utf8');

t.test('helm lint --strict passes, with the defaults and other value sets', async (t) => {
  for (const set of [[], ['--set', 'certManager.enabled=true'], ['--set', 'webhook.podOptIn=false,inject.capture=true']]) {
    const r = helmRun(['lint', '--strict', CHART, ...set]);
    t.ok(r.ok, `helm lint --strict ${set.join(' ')}\n${r.out}${r.err}`);
  }
});

t.test('the defaults: four objects, each valid against the Kubernetes schemas', async (t) => {
  const docs = render();
  t.same(docs.map((d) => d.kind).sort(), ['Deployment', 'MutatingWebhookConfiguration', 'Secret', 'Service']);
  for (const doc of docs) t.same(await schemaProblems(doc), [], `${doc.kind} ${doc.metadata.name}`);
});

t.test('the certificate made at install: the injector serves it, and the caBundle verifies it', async (t) => {
  const docs = render();
  const secret = one(docs, 'Secret');
  const webhook = one(docs, 'MutatingWebhookConfiguration');
  const service = one(docs, 'Service');
  t.equal(secret.type, 'kubernetes.io/tls');
  for (const hook of webhook.webhooks) t.equal(hook.clientConfig.caBundle, secret.data['ca.crt'], `${hook.name}: caBundle is the Secret's CA`);
  const ca = new X509Certificate(b64(secret.data['ca.crt']));
  const cert = new X509Certificate(b64(secret.data['tls.crt']));
  t.ok(ca.ca, 'ca.crt is a CA');
  t.ok(cert.verify(ca.publicKey), 'tls.crt is signed by it');
  const host = `${service.metadata.name}.${service.metadata.namespace ?? 'mesh'}.svc`;
  t.equal(cert.checkHost(host), host, `tls.crt names ${host}, the name the API server calls`);
  const key = createPrivateKey(b64(secret.data['tls.key']));
  t.equal(createPublicKey(key).export({ format: 'pem', type: 'spki' }), cert.publicKey.export({ format: 'pem', type: 'spki' }), 'tls.key is its key');

  // As the API server does: TLS to the injector, trusting only caBundle, checking the Service name.
  const dir = mkdtempSync(join(tmpdir(), 'outrider-chart-'));
  writeFileSync(join(dir, 'tls.crt'), b64(secret.data['tls.crt']));
  writeFileSync(join(dir, 'tls.key'), b64(secret.data['tls.key']));
  const server = await InjectorServer.start({ host: '127.0.0.1', port: 0, certFile: join(dir, 'tls.crt'), keyFile: join(dir, 'tls.key'), inject: { policy: 'p', capture: false, image: DEFAULT_IMAGE }, log: capturedLog().log });
  t.teardown(() => server.close());
  const authorized = await new Promise<boolean>((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port: server.port(), servername: host, ca: b64(webhook.webhooks[0].clientConfig.caBundle) }, () => {
      resolve(socket.authorized);
      socket.end();
    });
    socket.on('error', reject);
  });
  t.ok(authorized, 'the handshake verifies');
});

t.test('the webhooks call what the injector serves, through the Service that selects it', async (t) => {
  const docs = render();
  const webhook = one(docs, 'MutatingWebhookConfiguration');
  const service = one(docs, 'Service');
  const deployment = one(docs, 'Deployment');
  const pod = deployment.spec.template;
  const container = pod.spec.containers[0];
  t.same(webhook.webhooks.map((w: Any) => [w.name, w.clientConfig.service.path]), [['namespaces.inject.outrider.io', '/inject'], ['pods.inject.outrider.io', '/inject/annotated']]);
  for (const hook of webhook.webhooks) {
    t.match(hook, { failurePolicy: 'Ignore', sideEffects: 'None', admissionReviewVersions: ['v1'], timeoutSeconds: 10 }, hook.name);
    t.same(hook.rules, [{ operations: ['CREATE'], apiGroups: [''], apiVersions: ['v1'], resources: ['pods'], scope: 'Namespaced' }]);
    t.same(hook.clientConfig.service, { name: service.metadata.name, namespace: 'mesh', path: hook.clientConfig.service.path, port: service.spec.ports[0].port });
    t.same(hook.objectSelector, { matchExpressions: [{ key: 'outrider.io/inject', operator: 'NotIn', values: ['disabled'] }] });
  }
  const [byNamespace, byPod] = webhook.webhooks;
  t.same(byNamespace.namespaceSelector.matchLabels, { 'outrider.io/inject': 'enabled' }, 'namespaces opt in with the label');
  t.same(byNamespace.namespaceSelector.matchExpressions, [{ key: 'kubernetes.io/metadata.name', operator: 'NotIn', values: ['mesh'] }], "never the injector's own namespace");
  t.same(byPod.namespaceSelector.matchExpressions, [
    { key: 'outrider.io/inject', operator: 'NotIn', values: ['enabled', 'disabled'] },
    { key: 'kubernetes.io/metadata.name', operator: 'NotIn', values: ['mesh', 'kube-system', 'kube-node-lease', 'kube-public'] },
  ], 'the other namespaces, once each, without the system ones');

  for (const [k, v] of Object.entries(service.spec.selector)) t.equal(pod.metadata.labels[k], v, `the Service selects the injector's pods (${k})`);
  t.equal(pod.metadata.labels['outrider.io/inject'], 'disabled', 'the injector is never injected');
  const port = container.ports.find((p: Any) => p.name === service.spec.ports[0].targetPort);
  t.equal(`0.0.0.0:${port.containerPort}`, flagOf(container.args, '--address'), 'the Service targets the port the injector listens on');
  t.equal(container.args[0], 'injector');
  const mount = container.volumeMounts.find((m: Any) => flagOf(container.args, '--tls-cert')?.startsWith(`${m.mountPath}/`));
  t.ok(mount && flagOf(container.args, '--tls-key')?.startsWith(`${mount.mountPath}/`), 'the certificate files are in the mounted folder');
  t.equal(pod.spec.volumes.find((v: Any) => v.name === mount.name).secret.secretName, one(docs, 'Secret').metadata.name);
  t.same(container.readinessProbe.httpGet, { path: '/healthz', port: 'https', scheme: 'HTTPS' });
  t.equal(flagOf(container.args, '--policy'), 'outrider-policy');
  t.equal(flagOf(container.args, '--image'), container.image, "injected pods run the injector's own image by default");
  t.notOk(container.args.includes('--capture'));
  t.notOk(flagOf(container.args, '--capture-image'), 'the capture image follows the sidecar image by default');
  t.equal(pod.spec.automountServiceAccountToken, false, 'it calls no API');
});

t.test('cert-manager when asked, or when its API is present (auto)', async (t) => {
  for (const args of [['--set', 'certManager.enabled=true'], ['--api-versions', 'cert-manager.io/v1']]) {
    const docs = render(...args);
    t.same(docs.map((d) => d.kind).sort(), ['Certificate', 'Deployment', 'Issuer', 'MutatingWebhookConfiguration', 'Service'], args.join(' '));
    const certificate = one(docs, 'Certificate');
    const issuer = one(docs, 'Issuer');
    const webhook = one(docs, 'MutatingWebhookConfiguration');
    const deployment = one(docs, 'Deployment');
    for (const doc of [certificate, issuer]) t.equal(doc.apiVersion, 'cert-manager.io/v1');
    t.same(issuer.spec, { selfSigned: {} });
    t.same(certificate.spec.issuerRef, { name: issuer.metadata.name, kind: 'Issuer' });
    t.equal(certificate.spec.secretName, deployment.spec.template.spec.volumes[0].secret.secretName, "cert-manager writes the Secret the injector mounts");
    t.ok(certificate.spec.dnsNames.includes('demo-outrider-injector.mesh.svc'));
    t.equal(webhook.metadata.annotations['cert-manager.io/inject-ca-from'], `mesh/${certificate.metadata.name}`);
    t.notOk(webhook.webhooks.some((w: Any) => 'caBundle' in w.clientConfig), 'the CA injector fills the caBundle');
    for (const doc of [webhook, deployment]) t.same(await schemaProblems(doc), []);
  }
  const off = render('--api-versions', 'cert-manager.io/v1', '--set', 'certManager.enabled=false');
  t.same(off.map((d) => d.kind).sort(), ['Deployment', 'MutatingWebhookConfiguration', 'Secret', 'Service'], 'false: self-signed even with cert-manager present');
});

t.test('values: pod opt-in off, capture, image, failure policy; the schema refuses mistakes', async (t) => {
  const docs = render('--set', 'webhook.podOptIn=false,inject.capture=true,inject.image=registry.example/outrider:2,inject.captureImage=registry.example/capture:2,webhook.failurePolicy=Fail,image.repository=registry.example/injector');
  const webhook = one(docs, 'MutatingWebhookConfiguration');
  t.same(webhook.webhooks.map((w: Any) => w.name), ['namespaces.inject.outrider.io'], 'only namespaces opt in');
  t.equal(webhook.webhooks[0].failurePolicy, 'Fail');
  const container = one(docs, 'Deployment').spec.template.spec.containers[0];
  t.ok(container.args.includes('--capture'));
  t.equal(flagOf(container.args, '--image'), 'registry.example/outrider:2');
  t.equal(flagOf(container.args, '--capture-image'), 'registry.example/capture:2');
  t.equal(container.image, 'registry.example/injector:0.1.0');
  for (const [set, message] of [
    ['webhook.failurePolicy=Maybe', /failurePolicy/],
    ['certManager.enabled=yes', /certManager\/enabled/],
    ['inject.policy=Bad_Name', /inject\/policy/],
    ['inject.polcy=x', /additional properties 'polcy'/],
    ['webhook.timeoutSeconds=60', /timeoutSeconds/],
  ] as const) {
    const r = helmRun(['template', 'demo', CHART, '--set', set]);
    t.notOk(r.ok, set);
    t.match(r.err, message);
  }
});
