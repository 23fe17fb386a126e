/**
 * The mutation core on single pod templates: who is injected, what the annotations change,
 * what is refused, and that its patch applies (with fast-json-patch, an RFC 6902
 * implementation nobody here wrote) to templates whose lists are absent, null or present.
 */
import jsonpatch from 'fast-json-patch';
import t from 'tap';
import { ANNOTATION } from '../../../src/kubernetes/inject/annotations.js';
import { parseCaptureArgs } from '../../../src/capture/options.js';
import { APP_ENV, CAPTURE_NAME, DEFAULT_IMAGE, EXCLUDED_OUTBOUND_PORTS, VERSION, captureImageFor } from '../../../src/kubernetes/inject/defaults.js';
import { planInjection, type InjectOptions, type Plan } from '../../../src/kubernetes/inject/plan.js';

/* eslint-disable @typescript-eslint/no-explicit-any -- pod templates are free-form JSON */
type Any = any;

const OPTIONS: InjectOptions = { policy: 'outrider-policy', capture: false, image: DEFAULT_IMAGE, optIn: 'unless-disabled' };
const template = (annotations?: Record<string, unknown>, spec: Record<string, unknown> = {}): Any => ({
  metadata: { labels: { app: 'a' }, ...(annotations ? { annotations } : {}) },
  spec: { containers: [{ name: 'app', image: 'app:1', ports: [{ containerPort: 8080 }] }], ...spec },
});
const apply = (tpl: unknown, plan: Plan): Any => {
  if (!plan.inject) throw new Error(`not injected: ${plan.reason}`);
  return jsonpatch.applyPatch(structuredClone(tpl), plan.patch as jsonpatch.Operation[], true, false).newDocument;
};
const injected = (tpl: unknown, options: Partial<InjectOptions> = {}): Any => apply(tpl, planInjection(tpl, { ...OPTIONS, ...options }));
const captureArgs = (pod: Any): string[] => pod.spec.initContainers.find((c: Any) => c.name === CAPTURE_NAME).args;
const flag = (args: string[], name: string): string | undefined => (args.includes(name) ? args[args.indexOf(name) + 1] : undefined);

t.test('who is injected: inject unless disabled, or only when enabled', async (t) => {
  t.equal(planInjection(template(), OPTIONS).inject, true, 'no annotation: injected by default');
  t.same(planInjection(template({ [ANNOTATION.inject]: 'disabled' }), OPTIONS), { inject: false, reason: 'outrider.io/inject: disabled' });
  const ifEnabled = { ...OPTIONS, optIn: 'if-enabled' } as const;
  t.equal(planInjection(template(), ifEnabled).inject, false, 'if-enabled: a pod that says nothing is left alone');
  t.equal(planInjection(template({ [ANNOTATION.inject]: 'enabled' }), ifEnabled).inject, true, 'if-enabled: the annotation opts in');
  const labelled = template();
  labelled.metadata.labels[ANNOTATION.inject] = 'enabled';
  t.equal(planInjection(labelled, ifEnabled).inject, true, 'the label opts in too (what an objectSelector sees)');
  labelled.metadata.annotations = { [ANNOTATION.inject]: 'disabled' };
  t.equal(planInjection(labelled, ifEnabled).inject, false, 'the annotation wins over the label');
  labelled.metadata = { labels: { [ANNOTATION.inject]: 'true' } };
  t.equal(planInjection(labelled, ifEnabled).inject, false, 'a label value other than enabled/disabled says nothing');
});

t.test('already injected, or not injectable: skipped with the reason', async (t) => {
  const chartStyle = template(undefined, { initContainers: [{ name: 'outrider', image: 'outrider:0.0.9' }] });
  t.match(planInjection(chartStyle, OPTIONS), { inject: false, reason: /already has a container named outrider/ });
  const oldStyle = template();
  oldStyle.spec.containers.push({ name: 'outrider', image: 'outrider:0.0.9' });
  t.match(planInjection(oldStyle, OPTIONS), { inject: false, reason: /already has/ }, 'a sidecar among the containers counts');
  t.match(planInjection(template(undefined, { hostNetwork: true }), OPTIONS), { inject: false, reason: /hostNetwork/ });
});

t.test('the patch on a minimal template: the sidecar, the env, the volume, the mark', async (t) => {
  const pod = injected({ spec: { containers: [{ name: 'app', image: 'app:1' }] } });
  t.same(Object.keys(pod), ['spec', 'metadata']);
  t.same(pod.metadata, { annotations: { [ANNOTATION.injected]: VERSION } }, 'metadata created with the injected mark');
  t.equal(pod.spec.initContainers.length, 1);
  const sidecar = pod.spec.initContainers[0];
  t.equal(sidecar.name, 'outrider');
  t.equal(sidecar.restartPolicy, 'Always', 'a native sidecar');
  t.equal(sidecar.image, DEFAULT_IMAGE);
  t.same(pod.spec.volumes, [{ name: 'outrider-policy', configMap: { name: 'outrider-policy' } }]);
  t.same(pod.spec.containers[0].env, APP_ENV, 'every proxy variable on the app');
  t.same(sidecar.resources, { requests: { cpu: '100m', memory: '96Mi' }, limits: { memory: '256Mi' } }, "the chart's resources by default");
});

t.test('lists that are null are replaced; present ones extended, the sidecar first', async (t) => {
  const nulls = injected({ metadata: { annotations: null }, spec: { containers: [{ name: 'app', env: null }], initContainers: null, volumes: null } });
  t.equal(nulls.spec.initContainers[0].name, 'outrider');
  t.equal(nulls.spec.containers[0].env.length, APP_ENV.length);
  t.equal(nulls.spec.volumes.length, 1);
  t.same(nulls.metadata.annotations, { [ANNOTATION.injected]: VERSION });

  const full = template({ keep: 'me' }, { initContainers: [{ name: 'migrate', image: 'm' }], volumes: [{ name: 'data', emptyDir: {} }] });
  full.spec.containers[0].env = [{ name: 'HTTP_PROXY', value: 'http://corporate:3128' }];
  const pod = injected(full, { capture: true });
  t.same(pod.spec.initContainers.map((c: Any) => c.name), ['outrider-capture', 'outrider', 'migrate'], 'capture, then the sidecar, then the app\'s own');
  t.same(pod.spec.volumes.map((v: Any) => v.name), ['data', 'outrider-policy']);
  t.equal(pod.metadata.annotations.keep, 'me');
  t.equal(pod.metadata.annotations[ANNOTATION.injected], VERSION);
  const env = pod.spec.containers[0].env;
  t.equal(env.filter((e: Any) => e.name === 'HTTP_PROXY').length, 1, 'a variable the app sets is not added again');
  t.equal(env[0].value, 'http://corporate:3128', 'and its value is kept');
  t.equal(env.length, APP_ENV.length, 'the others are added');
});

t.test('annotations: policy, resources, capture and its ports', async (t) => {
  const pod = injected(template({ [ANNOTATION.policy]: 'shop-policy', [ANNOTATION.proxyCpu]: '250m', [ANNOTATION.proxyMemory]: '1Gi' }), { policy: 'other' });
  t.equal(pod.spec.volumes[0].configMap.name, 'shop-policy', 'the annotation beats the default policy');
  t.same(pod.spec.initContainers[0].resources, { requests: { cpu: '250m', memory: '1Gi' }, limits: { memory: '1Gi' } });
  t.equal(injected(template(), { policy: 'team-policy' }).spec.volumes[0].configMap.name, 'team-policy', '--policy is the default');

  t.notOk(injected(template()).spec.initContainers.some((c: Any) => c.name === CAPTURE_NAME), 'no capture unless asked');
  t.notOk(injected(template({ [ANNOTATION.capture]: 'disabled' }), { capture: true }).spec.initContainers.some((c: Any) => c.name === CAPTURE_NAME), 'capture: disabled beats --capture');

  const many = template({ [ANNOTATION.capture]: 'enabled' });
  many.spec.containers[0].ports = [{ containerPort: 8080 }, { containerPort: 53, protocol: 'UDP' }, { containerPort: 9090, protocol: 'TCP' }];
  many.spec.containers.push({ name: 'side', ports: [{ containerPort: 8080 }, { containerPort: 7000 }] });
  const args = captureArgs(injected(many));
  t.same(args.slice(0, 6), ['--proxy-uid', '65532', '--outbound-listener', '15001', '--inbound-listener', '15006']);
  t.equal(flag(args, '--inbound-ports'), '8080,9090,7000', "the app's TCP ports, each once, UDP left out");
  t.notOk(args.includes('--outbound-ports'), 'outbound ports: capture\'s own default');
  t.equal(flag(args, '--exclude-outbound-ports'), EXCLUDED_OUTBOUND_PORTS.join(','), 'TLS, DNS, databases and brokers are never captured');
  t.ok(EXCLUDED_OUTBOUND_PORTS.includes(443) && EXCLUDED_OUTBOUND_PORTS.includes(53));
  t.notOk(args.includes('--exclude-inbound-ports'));

  const all = captureArgs(injected(template({ [ANNOTATION.capture]: 'enabled', [ANNOTATION.inboundPorts]: 'all', [ANNOTATION.outboundPorts]: '80, 443,80', [ANNOTATION.excludeOutboundPorts]: '7000,5432' })));
  t.equal(flag(all, '--inbound-ports'), 'all');
  t.equal(flag(all, '--exclude-inbound-ports'), '9901', 'all inbound ports: the admin port stays reachable for the kubelet');
  t.equal(flag(all, '--outbound-ports'), '80,443', 'spaces and repeats dropped');
  t.equal(flag(all, '--exclude-outbound-ports'), `${EXCLUDED_OUTBOUND_PORTS.join(',')},7000`, 'the annotation adds to the defaults, each port once');

  const portless = template({ [ANNOTATION.capture]: 'enabled' });
  delete portless.spec.containers[0].ports;
  const portlessArgs = captureArgs(injected(portless));
  t.equal(flag(portlessArgs, '--inbound-ports'), 'all', 'no declared port: every inbound port');
  t.equal(flag(portlessArgs, '--exclude-inbound-ports'), '9901', 'but the admin port');

  const capture = injected(many).spec.initContainers[0];
  t.same(capture.securityContext.capabilities.add, ['NET_ADMIN', 'NET_RAW']);
  t.equal(capture.securityContext.runAsUser, 0);
  t.equal(capture.securityContext.runAsNonRoot, false, 'explicit, as a pod-level runAsNonRoot would refuse it');
  t.notOk(capture.restartPolicy, 'an ordinary init container: it runs once and exits');
});

t.test("the capture args are ones `outrider capture` takes, meaning what the pod asked", async (t) => {
  const pod = template({ [ANNOTATION.capture]: 'enabled', [ANNOTATION.outboundPorts]: '80,8080', [ANNOTATION.excludeOutboundPorts]: '5432' });
  const options = parseCaptureArgs(captureArgs(injected(pod)));
  t.match(options, { proxyUid: 65532, outboundListener: 15001, inboundListener: 15006, dryRun: false });
  t.same(options.inboundPorts, { kind: 'list', ports: [8080] }, "the app's port inbound");
  t.same(options.outboundPorts, { kind: 'list', ports: [80, 8080] });
  t.same(options.excludeOutboundPorts, EXCLUDED_OUTBOUND_PORTS, 'the defaults (5432 among them)');
  const all = parseCaptureArgs(captureArgs(injected(template({ [ANNOTATION.capture]: 'enabled', [ANNOTATION.inboundPorts]: 'all' }))));
  t.same([all.inboundPorts, all.excludeInboundPorts, all.outboundPorts], [{ kind: 'all' }, [9901], { kind: 'all' }], 'all inbound but the admin port; outbound: all by default');
});

t.test('the capture image is the init variant of the sidecar image', async (t) => {
  const image = (sidecar: string): string => injected(template({ [ANNOTATION.capture]: 'enabled' }), { image: sidecar }).spec.initContainers[0].image;
  t.equal(image('registry.example/outrider:1.2.3'), 'registry.example/outrider-init:1.2.3');
  t.equal(image('registry.example:5000/team/outrider:1.2.3'), 'registry.example:5000/team/outrider-init:1.2.3', 'a registry port is not a tag');
  t.equal(image('registry.example:5000/outrider'), 'registry.example:5000/outrider-init');
  t.equal(image(`outrider@sha256:${'a'.repeat(64)}`), `outrider-init:${VERSION}`, "a digest names one image: this version's init image");
  t.equal(captureImageFor(DEFAULT_IMAGE), `outrider-init:${VERSION}`, 'the Dockerfile\'s docker build --target init -t outrider-init:<version>');
});

t.test('annotations that cannot be meant are errors naming the annotation', async (t) => {
  const cases: [Record<string, unknown>, RegExp][] = [
    [{ [ANNOTATION.inject]: 'yes' }, /outrider\.io\/inject: "yes" is neither "enabled" nor "disabled"/],
    [{ [ANNOTATION.capture]: 'true' }, /outrider\.io\/capture: "true"/],
    [{ [ANNOTATION.policy]: 'Shop_Policy' }, /outrider\.io\/policy: "Shop_Policy" is not a ConfigMap name/],
    [{ [ANNOTATION.inboundPorts]: '8080,http' }, /outrider\.io\/inbound-ports: "8080,http" is not a comma-separated list of ports \(1-65535\) or "all"/],
    [{ [ANNOTATION.outboundPorts]: '0' }, /outrider\.io\/outbound-ports/],
    [{ [ANNOTATION.excludeOutboundPorts]: 'all' }, /outrider\.io\/exclude-outbound-ports: "all" is not a comma-separated list of ports \(1-65535\)$/],
    [{ [ANNOTATION.outboundPorts]: '65536' }, /outbound-ports/],
    [{ [ANNOTATION.proxyCpu]: 'lots' }, /outrider\.io\/proxy-cpu: "lots" is not a Kubernetes quantity/],
    [{ [ANNOTATION.proxyMemory]: '512MB' }, /outrider\.io\/proxy-memory: "512MB"/],
    [{ [ANNOTATION.proxyCpu]: 2 }, /outrider\.io\/proxy-cpu: annotation values are strings; got 2/],
    [{ [ANNOTATION.proxyNodeOptions]: 'max-old-space-size=300' }, /outrider\.io\/proxy-node-options: "max-old-space-size=300" is not a list of Node\.js options/],
    [{ [ANNOTATION.proxyNodeOptions]: '--max-old-space-size="300"' }, /proxy-node-options/],
  ];
  for (const [annotations, message] of cases) t.throws(() => planInjection(template(annotations), OPTIONS), message, JSON.stringify(annotations));
  t.equal(planInjection(template({ [ANNOTATION.proxyCpu]: '0.5', [ANNOTATION.proxyMemory]: '128Mi' }), OPTIONS).inject, true, 'quantities as Kubernetes writes them');
  const nodeOptions = (value: string): unknown => injected(template({ [ANNOTATION.proxyNodeOptions]: value })).spec.initContainers[0].env;
  t.same(nodeOptions(' --max-old-space-size=400   --max-semi-space-size=8 '), [{ name: 'NODE_OPTIONS', value: '--max-old-space-size=400 --max-semi-space-size=8' }], 'Node.js options, spaces tidied');
  t.same(nodeOptions(''), [{ name: 'NODE_OPTIONS', value: '' }], "empty: V8's own defaults");
});

t.test('templates that are not pods, or collide with what injection adds, are refused', async (t) => {
  t.throws(() => planInjection('pod', OPTIONS), { name: 'TemplateError', message: 'the pod template is not an object' });
  t.throws(() => planInjection({ metadata: [], spec: { containers: [] } }, OPTIONS), /metadata is not an object/);
  t.throws(() => planInjection({ spec: {} }, OPTIONS), /spec.containers is missing/);
  t.throws(() => planInjection({ spec: { containers: ['app'] } }, OPTIONS), /spec.containers/);
  t.throws(() => planInjection({ metadata: { annotations: 'x' }, spec: { containers: [] } }, OPTIONS), /annotations is not a map/);
  t.throws(() => planInjection(template(undefined, { volumes: [{ name: 'outrider-policy' }] }), OPTIONS), /a volume is already named outrider-policy/);
  t.throws(() => planInjection(template(undefined, { initContainers: [{ name: 'outrider-capture' }] }), OPTIONS), /already named outrider-capture/);
  t.throws(() => planInjection(template(undefined, { volumes: 'data' }), OPTIONS), /volumes is not a list of objects/);
});
