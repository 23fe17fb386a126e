/**
 * Every chart in charts/, with the real helm (scripts/k8s-tools.ts): `helm lint --strict` and
 * `helm template` with the chart's values.yaml and with each file in its examples/ folder, and
 * every rendered object checked against the Kubernetes OpenAPI schemas, unknown fields
 * included (scripts/k8s-schemas.ts). .ci/run runs it; test/k8s/ checks the same and more.
 *
 *   npx tsx scripts/check-charts.ts [charts/NAME ...]     exit 1 on any failure, each one listed
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parse } from 'yaml';
import { ROOT, k8sTools } from './k8s-tools.js';
import { schemaProblems } from './k8s-schemas.js';

export interface Manifest {
  /** The template it came from: templates/deployment.yaml. */
  readonly source: string;
  readonly doc: Record<string, unknown>;
}

/** `helm template` output split into documents (YAML 1.1, as Helm reads it), empty ones dropped. */
export function splitManifests(output: string): Manifest[] {
  const manifests: Manifest[] = [];
  for (const chunk of output.split(/^---\s*$/m)) {
    const source = /^# Source: [^/]+\/(.+)$/m.exec(chunk)?.[1];
    const doc = parse(chunk, { version: '1.1' }) as unknown;
    if (doc === null || doc === undefined) continue;
    if (source === undefined) throw new Error(`a document without a # Source line:\n${chunk}`);
    manifests.push({ source, doc: doc as Record<string, unknown> });
  }
  return manifests;
}

export interface ChartReport {
  readonly chart: string;
  /** The value sets: values.yaml, then examples/*.yaml. */
  readonly sets: readonly string[];
  readonly lintPassed: number;
  readonly rendered: number;
  readonly objects: number;
  readonly failures: readonly string[];
}

/** Lint, render and validate one chart with values.yaml and each example. */
export async function checkChart(helm: string, chart: string): Promise<ChartReport> {
  const name = relative(ROOT, chart);
  const examples = join(chart, 'examples');
  const sets = ['values.yaml', ...(existsSync(examples) ? readdirSync(examples).filter((f) => /\.ya?ml$/.test(f)).sort().map((f) => `examples/${f}`) : [])];
  const failures: string[] = [];
  let lintPassed = 0;
  let rendered = 0;
  let objects = 0;
  const run = (args: string[]): { ok: boolean; out: string; err: string } => {
    const r = spawnSync(helm, args, { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, env: { ...process.env, KUBECONFIG: '/dev/null' } });
    return { ok: r.status === 0, out: r.stdout ?? '', err: `${r.stderr ?? ''}${r.error?.message ?? ''}` };
  };
  for (const set of sets) {
    const values = set === 'values.yaml' ? [] : ['-f', join(chart, set)];
    const lint = run(['lint', '--strict', chart, ...values]);
    if (lint.ok) lintPassed += 1;
    else failures.push(`${name} ${set}: helm lint --strict failed:\n${lint.out}${lint.err}`);
    const template = run(['template', 'release', chart, ...values]);
    if (!template.ok) {
      failures.push(`${name} ${set}: helm template failed:\n${template.err}`);
      continue;
    }
    rendered += 1;
    for (const { source, doc } of splitManifests(template.out)) {
      objects += 1;
      for (const problem of await schemaProblems(doc)) failures.push(`${name} ${set}: ${source} ${String(doc.kind)}: ${problem}`);
    }
  }
  return { chart: name, sets, lintPassed, rendered, objects, failures };
}

/** The charts: the folders of charts/ that hold a Chart.yaml. */
export function charts(): string[] {
  const dir = join(ROOT, 'charts');
  return readdirSync(dir, { withFileTypes: true })
    .filter((e) => e.isDirectory() && existsSync(join(dir, e.name, 'Chart.yaml')))
    .map((e) => join(dir, e.name))
    .sort();
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { helm } = await k8sTools();
  const version = spawnSync(helm, ['version', '--short'], { encoding: 'utf8' }).stdout.trim();
  const chosen = process.argv.slice(2).map((c) => resolve(c));
  let failed = 0;
  for (const chart of chosen.length > 0 ? chosen : charts()) {
    const r = await checkChart(helm, chart);
    for (const failure of r.failures) process.stderr.write(`FAIL ${failure}\n`);
    failed += r.failures.length;
    process.stdout.write(
      `${r.chart} (helm ${version}): helm lint --strict ${r.lintPassed}/${r.sets.length} passed; helm template ${r.rendered}/${r.sets.length} rendered; ` +
        `${r.objects} objects against the Kubernetes schemas, ${r.failures.filter((f) => !/helm (lint|template)/.test(f)).length} problems (${r.sets.join(', ')})\n`,
    );
  }
  process.exit(failed > 0 ? 1 : 0);
}
