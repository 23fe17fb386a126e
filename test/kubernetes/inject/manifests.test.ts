/**
 * `inject` on a multi-document file (fixtures/app.yaml: a Deployment, a StatefulSet with
 * capture, a CronJob, a Service, the policy ConfigMap, an opted-out Deployment, a List with a
 * Pod and a hostNetwork DaemonSet): the output equals fixtures/app.injected.yaml (read and
 * checked by hand once), every object in it passes the Kubernetes OpenAPI schemas with no
 * unknown field, the untouched documents come out byte for byte, and injecting the output
 * again changes nothing.
 */
import { readFileSync, writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { parseAllDocuments } from 'yaml';
import { loadPolicyFile } from '../../../src/config/load.js';
import { DEFAULT_IMAGE, EXCLUDED_OUTBOUND_PORTS, PORTS, VERSION } from '../../../src/kubernetes/inject/defaults.js';
import { injectManifests } from '../../../src/kubernetes/inject/manifests.js';
import type { InjectOptions } from '../../../src/kubernetes/inject/plan.js';
import { podTemplates, valueAt } from '../../../src/kubernetes/inject/workloads.js';
import { schemaProblems } from '../../../scripts/k8s-schemas.js';

/* eslint-disable @typescript-eslint/no-explicit-any -- manifests are free-form YAML */
type Any = any;

const fixture = (name: string): string => readFileSync(new URL(`fixtures/${name}`, import.meta.url), 'utf8');
const SOURCE = fixture('app.yaml');
const EXPECTED = fixture('app.injected.yaml');
const OPTIONS: InjectOptions = { policy: 'outrider-policy', capture: false, image: DEFAULT_IMAGE, optIn: 'unless-disabled' };
const objects = (yaml: string): Any[] => parseAllDocuments(yaml, { version: '1.1' }).map((d) => d.toJS());
const byName = (docs: Any[], kind: string, name: string): Any =>
  docs.flatMap((d) => (d.kind === 'List' ? d.items : [d])).find((d) => d.kind === kind && d.metadata.name === name);
const templateOf = (docs: Any[], kind: string, name: string): Any => {
  const object = byName(docs, kind, name);
  return valueAt(object, podTemplates(object)[0]?.path ?? []);
};

const result = injectManifests(SOURCE, OPTIONS);

/** A List is kubectl's envelope, with no schema of its own: its items are checked one by one. */
async function problems(object: Any): Promise<string[]> {
  if (object.kind !== 'List') return schemaProblems(object);
  const extra = Object.keys(object).filter((k) => !['apiVersion', 'kind', 'metadata', 'items'].includes(k));
  const items = await Promise.all(object.items.map((item: Any, i: number) => schemaProblems(item).then((p) => p.map((m) => `/items/${i}${m}`))));
  return [...extra.map((k) => `/${k}: unknown field`), ...items.flat()];
}

t.test('the file is injected as expected, and says what it did', async (t) => {
  t.same(result.errors, []);
  t.equal(result.output, EXPECTED, 'the output is fixtures/app.injected.yaml');
  t.same(result.injected, ['document 1, Deployment shop', 'document 2, StatefulSet cache', 'document 3, CronJob nightly-report', 'document 7, List item 0 (Pod debug)']);
  t.same(result.skipped, [
    { label: 'document 6, Deployment legacy', reason: 'outrider.io/inject: disabled' },
    { label: 'document 7, List item 1 (DaemonSet node-agent)', reason: "hostNetwork: the pod shares the node's ports and network namespace" },
  ]);
});

t.test('what each injected template got', async (t) => {
  const docs = objects(result.output);
  for (const [kind, name] of [['Deployment', 'shop'], ['StatefulSet', 'cache'], ['CronJob', 'nightly-report'], ['Pod', 'debug']] as const) {
    const tpl = templateOf(docs, kind, name);
    const sidecar = tpl.spec.initContainers.find((c: Any) => c.name === 'outrider');
    t.equal(sidecar?.restartPolicy, 'Always', `${kind} ${name}: a native sidecar`);
    t.equal(tpl.metadata.annotations['outrider.io/injected'], VERSION, `${kind} ${name}: marked with the version`);
    t.ok(tpl.spec.containers.every((c: Any) => c.env.some((e: Any) => e.name === 'HTTP_PROXY')), `${kind} ${name}: every app container has HTTP_PROXY`);
  }
  const shop = templateOf(docs, 'Deployment', 'shop');
  t.same(shop.spec.initContainers.map((c: Any) => c.name), ['outrider', 'migrate'], "the sidecar before the app's init container");
  t.same(shop.spec.initContainers[0].resources.requests, { cpu: '200m', memory: '512Mi' }, 'resources from the annotations');
  t.equal(shop.spec.containers[0].env.find((e: Any) => e.name === 'NO_PROXY').value, 'localhost,127.0.0.1,payments.example', "the app's own NO_PROXY is kept");
  const cache = templateOf(docs, 'StatefulSet', 'cache');
  t.same(cache.spec.initContainers.map((c: Any) => c.name), ['outrider-capture', 'outrider'], 'capture (annotation) before the sidecar');
  t.same(cache.spec.initContainers[0].args.slice(-6), ['--inbound-ports', '6380,8081', '--outbound-ports', '80,8080', '--exclude-outbound-ports', `${EXCLUDED_OUTBOUND_PORTS.join(',')},9000`]);
  t.equal(cache.spec.volumes.find((v: Any) => v.name === 'outrider-policy').configMap.name, 'cache-policy');
  t.notOk(templateOf(docs, 'DaemonSet', 'node-agent').spec.initContainers, 'the hostNetwork DaemonSet is left alone');
});

t.test('every object, before and after, passes the Kubernetes schemas with no unknown field', async (t) => {
  for (const [label, yaml] of [['input', SOURCE], ['output', result.output]] as const) {
    for (const object of objects(yaml)) {
      t.same(await problems(object), [], `${label}: ${object.kind} ${object.metadata?.name ?? ''}`);
    }
  }
  const broken = objects(result.output)[0];
  broken.spec.template.spec.initContainers[0].restartpolicy = 'Always';
  t.same(await schemaProblems(broken), ['/spec/template/spec/initContainers/0/restartpolicy: unknown field'], 'the check itself finds a misspelt field');
});

t.test('documents with nothing to change come out byte for byte', async (t) => {
  const documents = SOURCE.split(/^---\n/m);
  for (const i of [3, 4, 5]) t.ok(result.output.includes(`---\n${documents[i]}`), `document ${i + 1} verbatim`);
  t.ok(result.output.startsWith('# An app as its team wrote it'), 'the leading comment is kept');
  t.ok(result.output.includes('- name: migrate # runs after the sidecar has started'), 'comments inside injected documents are kept');
});

t.test('injecting the output again changes nothing', async (t) => {
  const again = injectManifests(result.output, { ...OPTIONS, capture: true, policy: 'other' });
  t.equal(again.output, result.output, 'byte for byte, whatever the options');
  t.same(again.injected, []);
  t.equal(again.skipped.filter((s) => /already has a container named outrider/.test(s.reason)).length, 4);
});

t.test("the policy ConfigMap in the file is one the injected sidecar can run: it validates, on the sidecar's ports", async (t) => {
  const configMap = byName(objects(SOURCE), 'ConfigMap', 'outrider-policy');
  const file = join(mkdtempSync(join(tmpdir(), 'outrider-inject-')), 'outrider.yaml');
  writeFileSync(file, configMap.data['outrider.yaml']);
  const loaded = await loadPolicyFile(file);
  t.ok(loaded.ok, 'outrider validate accepts it');
  if (!loaded.ok) return;
  t.same(loaded.policy.listeners.map((l) => [l.name, l.address.port]), [['outbound', PORTS.outbound], ['inbound', PORTS.inbound]]);
  t.equal(loaded.policy.admin.address.port, PORTS.admin);
});

t.test('errors: nothing is written, and each bad template is named', async (t) => {
  const bad = SOURCE.replace('outrider.io/proxy-cpu: 200m', 'outrider.io/proxy-cpu: fast').replace("outrider.io/capture: enabled", 'outrider.io/capture: "yes"');
  const failed = injectManifests(bad, OPTIONS);
  t.equal(failed.output, '');
  t.same(failed.errors, [
    'document 1, Deployment shop: outrider.io/proxy-cpu: "fast" is not a Kubernetes quantity (such as 200m, 1, 128Mi)',
    'document 2, StatefulSet cache: outrider.io/capture: "yes" is neither "enabled" nor "disabled"',
  ]);
  t.match(injectManifests('kind: Pod\nspec: [\n', OPTIONS).errors, [/^document 1: /], 'invalid YAML');
  t.match(injectManifests('kind: Deployment\nmetadata: {name: x}\nspec: {}\n', OPTIONS).errors, ['document 1, Deployment x: the pod template is not an object']);
  const aliased = 'kind: Pod\nmetadata: {name: p}\nx-base: &c\n  - {name: app, image: a}\nspec:\n  containers: *c\n';
  t.match(injectManifests(aliased, OPTIONS).errors, [/^document 1, Pod p: \/spec\/containers\/0\/env: 0 is not in the YAML itself \(an alias/], 'an alias the patch cannot follow');
  t.match(injectManifests('kind: Pod\nspec: *nowhere\n', OPTIONS).errors, [/^document 1: .*alias/i], 'an alias with no anchor');
});

t.test('read and written as YAML 1.1, as Kubernetes reads it: an octal mode keeps its value', async (t) => {
  const pod = 'kind: Pod\nmetadata: {name: p}\nspec:\n  containers: [{name: app, image: a}]\n  volumes:\n    - name: conf\n      configMap: {name: conf, defaultMode: 0644}\n';
  const out = objects(injectManifests(pod, OPTIONS).output)[0];
  t.equal(out.spec.volumes[0].configMap.defaultMode, 0o644, '0644 is 420 before and after');
  t.equal(out.spec.initContainers[0].name, 'outrider', 'and the pod was injected');
});

t.test('a JSON document (kubectl get -o json) comes out as JSON', async (t) => {
  const json = JSON.stringify({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p' }, spec: { containers: [{ name: 'app', image: 'a' }] } }, null, 2);
  const out = injectManifests(`${json}\n`, OPTIONS).output;
  const pod = JSON.parse(out);
  t.equal(pod.spec.initContainers[0].name, 'outrider');
  t.ok(out.endsWith('}\n'));
  t.same(await schemaProblems(pod), []);
});

t.test('streams that are not workloads pass through whole', async (t) => {
  const text = '%YAML 1.1\n---\n# just a comment\n...\n---\napiVersion: v1\nkind: Secret\nmetadata: {name: s}\nstringData: {a: "on"}\n---\n';
  t.same(injectManifests(text, OPTIONS), { output: text, injected: [], skipped: [], errors: [] });
  t.equal(injectManifests('', OPTIONS).output, '');
});
