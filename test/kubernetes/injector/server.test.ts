/**
 * The injector as a real HTTPS server (test/fixtures/tls certificates) answering real
 * AdmissionReviews: for each pod template of test/kubernetes/inject/fixtures/app.yaml, the Pod
 * a controller would create is reviewed, the JSONPatch answered is applied with fast-json-patch,
 * and the result must equal what `inject` makes of the same Pod, and pass the Kubernetes
 * schemas. Then opt-in by path, malformed reviews (400, still serving), reviews it cannot
 * handle (allowed with a warning), the other routes, and a renewed certificate.
 */
import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { X509Certificate } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'node:tls';
import jsonpatch from 'fast-json-patch';
import t from 'tap';
import { parseAllDocuments, stringify } from 'yaml';
import { DEFAULT_IMAGE } from '../../../src/kubernetes/inject/defaults.js';
import { injectManifests } from '../../../src/kubernetes/inject/manifests.js';
import { podTemplates, valueAt } from '../../../src/kubernetes/inject/workloads.js';
import { InjectorServer } from '../../../src/kubernetes/injector/server.js';
import { schemaProblems } from '../../../scripts/k8s-schemas.js';
import { call, capturedLog, podFrom, review, TLS_DIR } from './fixtures.js';

/* eslint-disable @typescript-eslint/no-explicit-any -- reviews and pods are free-form JSON */
type Any = any;

const INJECT = { policy: 'outrider-policy', capture: false, image: DEFAULT_IMAGE } as const;
const APP = readFileSync(new URL('../inject/fixtures/app.yaml', import.meta.url), 'utf8');
const { log, lines } = capturedLog();
const server = await InjectorServer.start({ host: '127.0.0.1', port: 0, certFile: `${TLS_DIR}server.crt`, keyFile: `${TLS_DIR}server.key`, inject: INJECT, log });
t.teardown(() => server.close());
const port = server.port();

const decode = (answer: Any): Any[] => JSON.parse(Buffer.from(answer.response.patch, 'base64').toString('utf8'));
const patched = (pod: Any, answer: Any): Any => jsonpatch.applyPatch(structuredClone(pod), decode(answer), true, false).newDocument;
const viaInject = (pod: Any): Any => parseAllDocuments(injectManifests(stringify(pod), { ...INJECT, optIn: 'unless-disabled' }).output, { version: '1.1' })[0]?.toJS();
const templates = (): { label: string; template: Any }[] =>
  parseAllDocuments(APP, { version: '1.1' }).flatMap((d) => {
    const object = d.toJS();
    return podTemplates(object).map(({ path, label }) => ({ label, template: valueAt(object, path) }));
  });

t.test("the webhook's patch, applied, is what inject makes of the same Pod", async (t) => {
  let checked = 0;
  for (const { label, template } of templates()) {
    const pod = podFrom(template, 'owner');
    const reply = await call(port, 'POST', '/inject', JSON.stringify(review(pod)));
    t.equal(reply.status, 200, `${label}: 200`);
    const answer = reply.json();
    t.same(Object.keys(answer), ['apiVersion', 'kind', 'response']);
    t.match(answer, { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: { uid: '705ab4f5-6393-11e8-b7cc-42010a800002', allowed: true } });
    const expected = viaInject(pod);
    if (expected.spec.initContainers?.some((c: Any) => c.name === 'outrider') && !template.spec.hostNetwork && template.metadata?.annotations?.['outrider.io/inject'] !== 'disabled') {
      t.equal(answer.response.patchType, 'JSONPatch', `${label}: a JSONPatch`);
      const result = patched(pod, answer);
      t.same(result, expected, `${label}: patch applied = inject's output`);
      t.same(await schemaProblems(result), [], `${label}: the patched Pod passes the schema`);
      checked++;
    } else {
      t.notOk(answer.response.patch, `${label}: no patch (skipped: ${label})`);
      t.same(viaInject(pod), pod, `${label}: and inject leaves it alone too`);
    }
  }
  t.equal(checked, 4, 'four pods injected: shop, cache (with capture), nightly-report, debug');
  t.match(lines.find((l) => l.msg === 'injector: injected'), { uid: '705ab4f5-6393-11e8-b7cc-42010a800002', pod: 'shop/owner-…', injected: true });
});

t.test('opt-in by path: /inject unless disabled, /inject/annotated only if enabled', async (t) => {
  const plain = podFrom({ metadata: { labels: { app: 'x' } }, spec: { containers: [{ name: 'x', image: 'x' }] } }, 'x');
  const annotated = structuredClone(plain);
  annotated.metadata.annotations = { 'outrider.io/inject': 'enabled' };
  const disabled = structuredClone(plain);
  disabled.metadata.annotations = { 'outrider.io/inject': 'disabled' };
  const patchOf = async (path: string, pod: Any): Promise<string | undefined> => (await call(port, 'POST', path, JSON.stringify(review(pod)))).json().response.patch;
  t.ok(await patchOf('/inject', plain), '/inject: a pod that says nothing is injected (its namespace opted in)');
  t.notOk(await patchOf('/inject', disabled), '/inject: outrider.io/inject: disabled is honoured');
  t.notOk(await patchOf('/inject/annotated', plain), '/inject/annotated: a pod that says nothing is not');
  t.ok(await patchOf('/inject/annotated', annotated), '/inject/annotated: the annotation opts in');
  const already = patched(plain, (await call(port, 'POST', '/inject', JSON.stringify(review(plain)))).json());
  t.notOk(await patchOf('/inject', already), 'an injected pod is not injected again');
});

t.test('a malformed review is a 400 with a clear message, and the server goes on serving', async (t) => {
  const cases: [string, RegExp][] = [
    ['{"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {', /^malformed AdmissionReview: the body is not JSON: /],
    ['', /the body is not JSON/],
    [JSON.stringify({ ...review({}), apiVersion: 'admission.k8s.io/v1beta1' }), /expected an AdmissionReview of apiVersion admission\.k8s\.io\/v1/],
    [JSON.stringify([review({})]), /expected an AdmissionReview/],
    [JSON.stringify(review({}, { uid: undefined })), /the AdmissionReview has no request\.uid/],
    [JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview' }), /no request\.uid/],
  ];
  for (const [body, message] of cases) {
    const reply = await call(port, 'POST', '/inject', body);
    t.equal(reply.status, 400, body.slice(0, 60));
    t.match(reply.body, message);
  }
  t.ok(lines.some((l) => l.msg === 'injector: malformed AdmissionReview' && l.level === 40), 'logged as a warning');
  t.equal((await call(port, 'GET', '/healthz')).status, 200, 'still serving');
  const pod = podFrom({ spec: { containers: [{ name: 'x', image: 'x' }] } }, 'x');
  t.ok((await call(port, 'POST', '/inject', JSON.stringify(review(pod)))).json().response.patch, 'and still injecting');
});

t.test('a review it cannot handle is allowed unchanged, with a warning', async (t) => {
  const pod = podFrom({ metadata: { annotations: { 'outrider.io/inbound-ports': 'http' } }, spec: { containers: [{ name: 'x', image: 'x' }] } }, 'x');
  const cases: [Any, RegExp][] = [
    [review(pod), /^outrider-injector: pod shop\/x-…: outrider\.io\/inbound-ports: "http" is not a comma-separated list.*; allowed unchanged$/],
    [review({ kind: 'Deployment' }, { kind: { group: 'apps', version: 'v1', kind: 'Deployment' } }), /expected a Pod CREATE, got CREATE of Deployment/],
    [review(pod, { operation: 'UPDATE' }), /expected a Pod CREATE, got UPDATE of Pod/],
    [review(pod, { kind: undefined }), /got CREATE of undefined/],
    [review({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'bare' } }), /pod shop\/bare: spec\.containers is missing/],
  ];
  for (const [body, warning] of cases) {
    const reply = await call(port, 'POST', '/inject', JSON.stringify(body));
    t.equal(reply.status, 200);
    const { response } = reply.json();
    t.same(Object.keys(response).sort(), ['allowed', 'uid', 'warnings'], 'allowed, no patch');
    t.equal(response.allowed, true);
    t.match(response.warnings, [warning]);
  }
  t.ok(lines.some((l) => l.msg === 'injector: allowed unchanged' && l.level === 40));
});

t.test('the other routes', async (t) => {
  const health = await call(port, 'GET', '/healthz');
  t.same([health.status, health.body], [200, 'ok\n']);
  t.equal((await call(port, 'HEAD', '/healthz')).status, 200);
  const post = await call(port, 'POST', '/healthz', '{}');
  t.same([post.status, post.headers.allow], [405, 'GET, HEAD']);
  const get = await call(port, 'GET', '/inject');
  t.same([get.status, get.headers.allow], [405, 'POST']);
  const other = await call(port, 'POST', '/mutate', '{}');
  t.equal(other.status, 404);
  t.match(other.body, /POST \/inject, POST \/inject\/annotated, GET \/healthz/);
  t.equal((await call(port, 'POST', '/inject?timeout=10s', JSON.stringify(review({})))).status, 200, 'the query string the API server may add is ignored');
});

t.test('a body past 4 MiB is refused with 413, announced or not', async (t) => {
  const big = Buffer.alloc(4 * 1024 * 1024 + 1, 0x20);
  const chunked = await call(port, 'POST', '/inject', big, { 'transfer-encoding': 'chunked' });
  t.equal(chunked.status, 413);
  const announced = await call(port, 'POST', '/inject', big);
  t.equal(announced.status, 413);
  t.equal((await call(port, 'GET', '/healthz')).status, 200);
});

t.test('a renewed certificate is served without a restart; a broken one is not taken', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'outrider-injector-'));
  copyFileSync(`${TLS_DIR}server.crt`, join(dir, 'tls.crt'));
  copyFileSync(`${TLS_DIR}server.key`, join(dir, 'tls.key'));
  const own = capturedLog();
  const renewing = await InjectorServer.start({ host: '127.0.0.1', port: 0, certFile: join(dir, 'tls.crt'), keyFile: join(dir, 'tls.key'), inject: INJECT, log: own.log });
  t.teardown(() => renewing.close());
  const fingerprint = (file: string): string => new X509Certificate(readFileSync(file)).fingerprint256;
  const served = (): Promise<string> =>
    new Promise((resolve, reject) => {
      const socket = connect({ host: '127.0.0.1', port: renewing.port(), servername: 'localhost', ca: readFileSync(`${TLS_DIR}ca.crt`) }, () => {
        resolve(socket.getPeerCertificate().fingerprint256);
        socket.end();
      });
      socket.on('error', reject);
    });
  t.equal(await served(), fingerprint(`${TLS_DIR}server.crt`));
  t.equal(await renewing.reloadCertificate(), false, 'unchanged files: nothing to do');
  copyFileSync(`${TLS_DIR}server-2.crt`, join(dir, 'tls.crt'));
  copyFileSync(`${TLS_DIR}server-2.key`, join(dir, 'tls.key'));
  t.equal(await renewing.reloadCertificate(), true);
  t.equal(await served(), fingerprint(`${TLS_DIR}server-2.crt`), 'the new certificate is served');
  writeFileSync(join(dir, 'tls.crt'), 'not a certificate');
  t.equal(await renewing.reloadCertificate(), false);
  t.ok(own.lines.some((l) => l.msg === 'injector: certificate reload failed; the previous one stays'));
  t.equal(await served(), fingerprint(`${TLS_DIR}server-2.crt`), 'the previous one stays');
});
