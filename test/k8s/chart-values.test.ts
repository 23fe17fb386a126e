/**
 * values.yaml and every example (coalesced over values.yaml by the real helm) validate against
 * values.schema.json, whose `policy` part is the policy's own JSON Schema; and the schema
 * rejects the mistakes it is there for, in Ajv and in Helm's own check at `helm template`.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { helmValues, readYaml, tryHelmTemplate } from './fixtures/helm.js';
import { CHART_DIR, EXAMPLE_PATTERNS, chartValues, describeErrors, exampleFiles, exampleValues, valuesValidator } from './fixtures/chart.js';
import { RE2_EQUIVALENTS, VALUES_SCHEMA, expectedValuesSchema, re2Unsupported } from './fixtures/values-schema.js';

const validate = valuesValidator();

t.test('values.schema.json carries the current policy schema', async (t) => {
  t.equal(readFileSync(VALUES_SCHEMA, 'utf8'), expectedValuesSchema(), 'stale: run npx tsx test/k8s/fixtures/values-schema.ts --write and commit charts/outrider/values.schema.json');
});

t.test("every pattern in values.schema.json compiles in Go's regexp (RE2), as Helm needs", async (t) => {
  const patterns = new Set<string>();
  const walk = (node: unknown): void => {
    if (Array.isArray(node)) node.forEach(walk);
    else if (typeof node === 'object' && node !== null) {
      for (const [k, v] of Object.entries(node)) {
        if (k === 'pattern' && typeof v === 'string') patterns.add(v);
        else walk(v);
      }
    }
  };
  walk(JSON.parse(readFileSync(VALUES_SCHEMA, 'utf8')));
  t.ok(patterns.size > 5, `${patterns.size} patterns`);
  for (const p of patterns) t.notOk(re2Unsupported(p), `RE2 has the syntax of ${p}`);
  t.ok(re2Unsupported('^(?=a)b$') && re2Unsupported('(a)\\1') && re2Unsupported('(?!x)'), 'lookaround and backreferences are caught');
  const samples = ['0s', '0.0s', '00m', '0.5s', '10ms', '1.0h', '007s', '0.05ms', '.5s', '1.s', '5', '5x', '1 s', '20s', '100.000m'];
  for (const [original, equivalent] of Object.entries(RE2_EQUIVALENTS)) {
    const [a, b] = [new RegExp(original), new RegExp(equivalent)];
    t.same(samples.map((x) => b.test(x)), samples.map((x) => a.test(x)), `${equivalent} matches what ${original} matches`);
  }
});

t.test('values.yaml validates', async (t) => {
  const errors = validate(chartValues());
  t.same(errors, [], describeErrors(errors));
});

t.test('every example validates, coalesced over values.yaml', async (t) => {
  const files = exampleFiles();
  t.same(files, Object.keys(EXAMPLE_PATTERNS).sort(), 'one example per pattern, and nothing else');
  for (const file of files) {
    const errors = validate(exampleValues(file));
    t.same(errors, [], `${file}: ${describeErrors(errors)}`);
  }
});

t.test('the schema rejects what it is there for, in Ajv and in helm', async (t) => {
  // [what, values, Ajv's error, where helm's error is]
  const cases: [string, string, RegExp, string][] = [
    ['a misspelt policy key', 'policy:\n  routes:\n    - { name: a, match: { pathPrefix: / }, upstream: local-app, retry: { atempts: 3 } }\n', /additionalProperty.*atempts/, '/policy/routes/0/retry'],
    ['listeners in policy (the chart writes them)', 'policy:\n  listeners: [ { name: x, address: "127.0.0.1:1" } ]\n', /additionalProperty.*listeners/, '/policy'],
    ['drainTimeout in policy (sidecar.drainTimeoutSeconds)', 'policy:\n  drainTimeout: 5s\n', /additionalProperty.*drainTimeout/, '/policy'],
    ['retry.on unquoted (YAML 1.1 reads the key as true)', 'policy:\n  routes:\n    - { name: a, match: { pathPrefix: / }, upstream: local-app, retry: { on: [reset] } }\n', /additionalProperty.*"true"/, '/policy/routes/0/retry'],
    ['accessLog: off unquoted (YAML 1.1 reads false)', 'policy:\n  accessLog: off\n', /\/policy\/accessLog must be string/, '/policy/accessLog'],
    ['a bad duration', 'policy:\n  defaults: { timeout: 2 seconds }\n', /\/policy\/defaults\/timeout must match pattern/, '/policy/defaults/timeout'],
    ['a misspelt top-level key', 'replicacount: 3\n', /additionalProperty.*replicacount/, ''],
    ['a misspelt sidecar key', 'sidecar:\n  drainTimeout: 20\n', /additionalProperty.*drainTimeout/, '/sidecar'],
    ['a port out of range', 'sidecar:\n  ports: { inbound: 70000 }\n', /\/sidecar\/ports\/inbound must be <= 65535/, '/sidecar/ports/inbound'],
    ['the app overriding HTTP_PROXY', 'app:\n  env: [ { name: HTTP_PROXY, value: "http://elsewhere:3128" } ]\n', /\/app\/env\/0 must NOT be valid/, '/app/env/0'],
    ['the app container named outrider', 'app:\n  name: outrider\n', /\/app\/name must NOT be valid/, '/app/name'],
    ['a non-integer grace period', 'terminationGracePeriodSeconds: "60"\n', /terminationGracePeriodSeconds must be integer,null/, '/terminationGracePeriodSeconds'],
    ['no routes', 'policy:\n  routes: []\n', /\/policy\/routes must NOT have fewer than 1 items/, '/policy/routes'],
    ['an unknown probe field', 'sidecar:\n  readinessProbe: { period: 5 }\n', /additionalProperty.*period/, '/sidecar/readinessProbe'],
    ['the app undoing NODE_USE_ENV_PROXY', 'app:\n  env: [ { name: NODE_USE_ENV_PROXY, value: "0" } ]\n', /\/app\/env\/0 must NOT be valid/, '/app/env/0'],
    ['JAVA_TOOL_OPTIONS in app.env with javaProxy on', 'app:\n  javaProxy: { enabled: true }\n  env: [ { name: JAVA_TOOL_OPTIONS, value: "-Xmx1g" } ]\n', /\/app\/env\/0 must NOT be valid/, '/app/env/0'],
    ["an app port named as the sidecar's", 'app:\n  ports: [ { name: admin, containerPort: 8080 } ]\n', /\/app\/ports\/0\/name must NOT be valid/, '/app/ports/0/name'],
    ['a ServiceMonitor and a PodMonitor', 'metrics: { serviceMonitor: { enabled: true }, podMonitor: { enabled: true } }\n', /\/metrics must NOT be valid/, '/metrics'],
    ['a Service name that is not a DNS label', 'service: { name: Shop_API }\n', /\/service\/name must match pattern/, '/service/name'],
  ];
  for (const [what, yaml, expected, at] of cases) {
    const errors = validate(helmValues(CHART_DIR, { values: [yaml] }));
    t.match(describeErrors(errors), expected, what);
    const r = tryHelmTemplate(CHART_DIR, { values: [yaml] });
    t.not(r.status, 0, `${what}: helm template fails`);
    t.match(r.stderr, `values don't meet the specifications of the schema`, `${what}: on the schema`);
    t.match(r.stderr, `- at '${at}'`, `${what}: at ${at || 'the top'}`);
  }
});

t.test('the schema follows Helm: null deletes a default, maps merge, lists replace', async (t) => {
  const values = helmValues(CHART_DIR, { values: ['policy:\n  upstreams: { extra: { endpoints: [http://extra:80] } }\n  defaults: null\n'] }) as {
    policy: { upstreams: Record<string, unknown>; defaults?: unknown; routes: unknown[] };
  };
  t.same(Object.keys(values.policy.upstreams).sort(), ['extra', 'local-app'], 'upstreams merge with the default local-app');
  t.notOk('defaults' in values.policy, 'null removes policy.defaults');
  t.equal(values.policy.routes.length, 1, 'routes keep the default list when not given');
  t.same(validate(values), []);
  const example = readYaml(readFileSync(join(CHART_DIR, 'examples/retry.yaml'), 'utf8')) as { policy: { routes: unknown[] } };
  t.equal((exampleValues('retry.yaml').policy as { routes: unknown[] }).routes.length, example.policy.routes.length, "an example's routes replace the default ones");
});
