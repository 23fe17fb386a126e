/**
 * What injection adds agrees with what the outrider chart renders (charts/outrider): a pod
 * injected and a pod from the chart run the sidecar the same way. A change to the chart's
 * sidecar values that injection does not follow fails here.
 */
import { readFileSync } from 'node:fs';
import t from 'tap';
import { parse } from 'yaml';
import { ANNOTATION } from '../../../src/kubernetes/inject/annotations.js';
import { sidecarContainer } from '../../../src/kubernetes/inject/containers.js';
import { APP_ENV, DEFAULT_IMAGE, DEFAULT_POLICY_CONFIGMAP, PORTS, POLICY_FILE, VERSION } from '../../../src/kubernetes/inject/defaults.js';
import { readSettings } from '../../../src/kubernetes/inject/annotations.js';

/* eslint-disable @typescript-eslint/no-explicit-any -- values are free-form YAML */
type Any = any;

const read = (path: string): string => readFileSync(new URL(`../../../charts/${path}`, import.meta.url), 'utf8');
const values = parse(read('outrider/values.yaml'), { version: '1.1' }) as Any;
const chart = parse(read('outrider/Chart.yaml')) as Any;
const deployment = read('outrider/templates/deployment.yaml');
const injectorValues = parse(read('outrider-injector/values.yaml'), { version: '1.1' }) as Any;
const sidecar = sidecarContainer(DEFAULT_IMAGE, readSettings({}, { policy: DEFAULT_POLICY_CONFIGMAP, capture: false })) as Any;

t.test("the sidecar container is the chart's", async (t) => {
  t.equal(DEFAULT_IMAGE, `${values.sidecar.image.repository}:${chart.appVersion}`, "the chart's default image");
  t.equal(VERSION, chart.appVersion, 'the version injected is the chart app version');
  t.same(PORTS, values.sidecar.ports, 'outbound, inbound and admin ports');
  t.ok(deployment.includes(`args: ["--config", "${POLICY_FILE}"]`), 'the same policy file');
  for (const [probe, path] of [['startupProbe', '/readyz'], ['readinessProbe', '/readyz'], ['livenessProbe', '/healthz']] as const) {
    t.same(sidecar[probe], { httpGet: { path, port: PORTS.admin }, ...values.sidecar[probe] }, `${probe}: the chart's path and timing`);
    t.match(deployment, new RegExp(`${probe}:\\n\\s+httpGet:\\n\\s+path: ${path}\\n`), `${probe}: the chart probes ${path}`);
  }
  t.same(sidecar.resources, values.sidecar.resources, "the chart's resources");
  t.match(sidecar.securityContext, values.sidecar.securityContext, "the chart's security context (and more)");
  t.ok(deployment.includes('restartPolicy: Always') && deployment.includes('mountPath: /etc/outrider'), 'a native sidecar with the policy folder');
});

t.test("the app's proxy variables are the chart's", async (t) => {
  const env = Object.fromEntries(APP_ENV.map((e) => [e.name, e.value]));
  t.equal(env.HTTP_PROXY, `http://127.0.0.1:${values.sidecar.ports.outbound}`);
  for (const name of ['HTTP_PROXY', 'http_proxy', 'NO_PROXY', 'no_proxy']) {
    t.match(deployment, new RegExp(`- name: ${name}\\n`), `the chart sets ${name} too`);
  }
  const helpers = read('outrider/templates/_helpers.tpl');
  const chartNoProxy = /define "outrider.noProxy"[\s\S]*?concat \(list ((?:"[^"]+" ?)+)\)/.exec(helpers)?.[1]?.match(/"([^"]+)"/g)?.map((h) => h.slice(1, -1));
  t.same(String(env.NO_PROXY).split(','), chartNoProxy, "NO_PROXY: the chart's default hosts");
  t.equal(env.NO_PROXY, env.no_proxy);
  t.match(deployment, /- name: NODE_USE_ENV_PROXY\n\s+value: "1"/, 'NODE_USE_ENV_PROXY=1, as the chart');
  t.equal(env.NODE_USE_ENV_PROXY, '1');
});

t.test("the capture container runs the Dockerfile's init target as its flags expect", async (t) => {
  const dockerfile = readFileSync(new URL('../../../Dockerfile', import.meta.url), 'utf8');
  const init = dockerfile.slice(dockerfile.indexOf(' AS init'), dockerfile.indexOf('\nFROM ', dockerfile.indexOf(' AS init')));
  t.match(init, /\nENTRYPOINT \[[^\]]*"capture"\]/, 'its ENTRYPOINT is outrider capture, so the args are flags only');
  t.match(dockerfile, /docker build --target init -t outrider-init:/, 'published as outrider-init, as captureImageFor names it');
});

t.test("the injector chart's defaults are inject's", async (t) => {
  t.equal(injectorValues.inject.policy, DEFAULT_POLICY_CONFIGMAP);
  t.equal(injectorValues.inject.capture, false);
  t.equal(injectorValues.image.repository, values.sidecar.image.repository, 'the same image');
  t.equal(ANNOTATION.inject, 'outrider.io/inject', 'the label the webhook selects on is the annotation inject reads');
  t.match(read('outrider-injector/templates/webhook.yaml'), /outrider\.io\/inject: enabled/);
});
