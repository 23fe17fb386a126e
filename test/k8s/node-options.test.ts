/**
 * The sidecar's V8 heap sizes (docs/kubernetes.md, "Memory") are set in three places that must
 * agree: the image's `ENV NODE_OPTIONS` (Dockerfile, runtime stage), the chart's
 * `sidecar.nodeOptions` (values.yaml, rendered by the real helm into the sidecar's env), and what
 * `outrider inject` and the injector add (DEFAULT_NODE_OPTIONS). The bench reads the Dockerfile's
 * (bench/lib/runtimes.ts), so it measures what ships. And the value must work: Node accepts it
 * in NODE_OPTIONS and V8's heap limit becomes old space + 3 semi-spaces.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { shippedEnv, shippedNodeOptions } from '../../bench/lib/runtimes.js';
import { readSettings } from '../../src/kubernetes/inject/annotations.js';
import { sidecarContainer } from '../../src/kubernetes/inject/containers.js';
import { DEFAULT_IMAGE, DEFAULT_NODE_OPTIONS, DEFAULT_POLICY_CONFIGMAP } from '../../src/kubernetes/inject/defaults.js';
import { CHART_DIR, chartValues, plainEnv } from './fixtures/chart.js';
import { keyValues, parseDockerfile, stageNamed } from './fixtures/dockerfile.js';
import { helmTemplate } from './fixtures/helm.js';

/* eslint-disable @typescript-eslint/no-explicit-any -- manifests are free-form YAML */
type Any = any;

const DOCKERFILE = fileURLToPath(new URL('../../Dockerfile', import.meta.url));

/** The runtime stage's ENV, as dockerfile-ast reads it (a later ENV of the same key wins, as in docker). */
function imageEnv(): Map<string, string> {
  const runtime = stageNamed(parseDockerfile(readFileSync(DOCKERFILE, 'utf8')), 'runtime');
  const envs = runtime?.instructions.filter((i) => i.keyword === 'ENV') ?? [];
  return new Map(envs.flatMap((i) => [...keyValues(i)]));
}

const imageNodeOptions = (): string | undefined => imageEnv().get('NODE_OPTIONS');

const sidecarEnv = (manifests: { doc: Any }[]): Any[] =>
  manifests.find((m) => m.doc.kind === 'Deployment')?.doc.spec.template.spec.initContainers.find((c: Any) => c.name === 'outrider').env ?? [];

t.test('the image, the chart and injection set the same NODE_OPTIONS', async (t) => {
  const image = imageNodeOptions();
  t.ok(image !== undefined && /--max-old-space-size=\d+/.test(image) && /--max-semi-space-size=\d+/.test(image), `the runtime stage sets both heap sizes: ${image}`);
  t.equal(shippedNodeOptions(DOCKERFILE), image, 'the bench reads the same value');
  t.equal((chartValues() as Any).sidecar.nodeOptions, image, "the chart's default is the image's");
  t.equal(DEFAULT_NODE_OPTIONS, image, "injection's default is the image's");
  const injected = sidecarContainer(DEFAULT_IMAGE, readSettings({}, { policy: DEFAULT_POLICY_CONFIGMAP, capture: false })) as Any;
  t.same(injected.env, [{ name: 'NODE_OPTIONS', value: image }], 'an injected sidecar carries it');
  const overridden = sidecarContainer(DEFAULT_IMAGE, readSettings({ 'outrider.io/proxy-node-options': '--max-old-space-size=400' }, { policy: DEFAULT_POLICY_CONFIGMAP, capture: false })) as Any;
  t.same(overridden.env, [{ name: 'NODE_OPTIONS', value: '--max-old-space-size=400' }], 'outrider.io/proxy-node-options replaces it');
});

t.test("the bench runs Outrider with the image's whole environment, glibc's arena cap included", async (t) => {
  const image = imageEnv();
  t.same(shippedEnv(DOCKERFILE), Object.fromEntries(image), `the bench reads every ENV of the runtime stage: ${[...image.keys()].join(', ')}`);
  t.match(image.get('MALLOC_ARENA_MAX'), /^[1-9]\d*$/, 'the image caps malloc arenas (docs/kubernetes.md, Memory)');
});

t.test('the chart renders sidecar.nodeOptions into the sidecar, and lets it be replaced', async (t) => {
  const image = imageNodeOptions();
  t.same(sidecarEnv(helmTemplate(CHART_DIR)).filter((e) => e.name === 'NODE_OPTIONS'), [{ name: 'NODE_OPTIONS', value: image }], 'by default: the image\'s value');
  const other = sidecarEnv(helmTemplate(CHART_DIR, { values: ['sidecar: { nodeOptions: "--max-old-space-size=400" }'] }));
  t.same(other.filter((e) => e.name === 'NODE_OPTIONS'), [{ name: 'NODE_OPTIONS', value: '--max-old-space-size=400' }], 'a value of its own');
  const none = sidecarEnv(helmTemplate(CHART_DIR, { values: ['sidecar: { nodeOptions: "" }'] }));
  t.same(none.filter((e) => e.name === 'NODE_OPTIONS'), [{ name: 'NODE_OPTIONS', value: '' }], '"": V8\'s defaults, the image\'s value replaced by nothing');
  const env = sidecarEnv(helmTemplate(CHART_DIR, { values: ['sidecar: { env: [ { name: NODE_OPTIONS, value: "--max-old-space-size=300" }, { name: TZ, value: UTC } ] }'] }));
  t.same(env, [{ name: 'NODE_OPTIONS', value: '--max-old-space-size=300' }, { name: 'TZ', value: 'UTC' }], 'an env entry named NODE_OPTIONS wins, once');
});

t.test('node takes the value from NODE_OPTIONS, and V8 sizes its heap by it', async (t) => {
  const image = imageNodeOptions() ?? '';
  const oldMiB = Number(/--max-old-space-size=(\d+)/.exec(image)?.[1]);
  const semiMiB = Number(/--max-semi-space-size=(\d+)/.exec(image)?.[1]);
  const run = spawnSync(process.execPath, ['-p', "require('v8').getHeapStatistics().heap_size_limit / 1048576"], {
    env: { ...plainEnv(), NODE_OPTIONS: image },
    encoding: 'utf8',
    timeout: 10_000,
  });
  t.equal(run.status, 0, `node starts with NODE_OPTIONS="${image}" ${run.stderr}`);
  t.equal(Number(run.stdout.trim()), oldMiB + 3 * semiMiB, `heap limit ${run.stdout.trim()} MiB = old space ${oldMiB} + 3 x semi-space ${semiMiB}`);
});
