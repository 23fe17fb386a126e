/**
 * The chart's templates, with the real helm: the files Helm expects and a Chart.yaml as its
 * best practices ask; `helm lint --strict` passes with values.yaml, with each example and with
 * every option on (fixtures/all-options.yaml, so every `if`/`with` branch runs: an include
 * passing a rebound dot, or a field of a missing value, fails there); every `.Values` path a
 * template names exists in values.yaml; and no value in values.yaml is dead: changing it
 * changes what helm renders (manifests, hooks or NOTES).
 */
import { cpSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { stringify } from 'yaml';
import { helmLint, helmRelease, readYaml } from './fixtures/helm.js';
import { CHART_DIR, ROOT, chartValues, examplePath, exampleFiles } from './fixtures/chart.js';

const ALL_OPTIONS = join(ROOT, 'test/k8s/fixtures/all-options.yaml');
const ALL_OPTIONS_VARIANT = join(ROOT, 'test/k8s/fixtures/all-options-variant.yaml');
const templates = readdirSync(join(CHART_DIR, 'templates'), { recursive: true, withFileTypes: true })
  .filter((e) => e.isFile())
  .map((e) => join(e.parentPath, e.name));

t.test('the chart has the files Helm expects', async (t) => {
  for (const file of ['Chart.yaml', 'values.yaml', 'values.schema.json', '.helmignore', 'README.md', 'templates/NOTES.txt', 'templates/_helpers.tpl']) {
    t.ok(existsSync(join(CHART_DIR, file)), file);
  }
  const meta = readYaml(readFileSync(join(CHART_DIR, 'Chart.yaml'), 'utf8')) as Record<string, unknown>;
  t.equal(meta.apiVersion, 'v2');
  t.equal(meta.name, 'outrider', 'the name is the folder name');
  t.match(String(meta.version), /^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$/, 'version is SemVer 2');
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
  t.equal(meta.appVersion, pkg.version, 'appVersion is the package version (the default image tag)');
  t.match(String(meta.kubeVersion), /^>=1\.(29|[3-9]\d)\./, 'kubeVersion asks for native sidecars (1.29+)');
  t.equal(meta.type, 'application');
});

t.test('helm lint --strict passes with values.yaml, each example and every option on', async (t) => {
  const sets: [string, string[]][] = [
    ['values.yaml', []],
    ...exampleFiles().map((f): [string, string[]] => [f, [examplePath(f)]]),
    ['all-options.yaml', [ALL_OPTIONS]],
    ['all-options-variant.yaml', [ALL_OPTIONS, ALL_OPTIONS_VARIANT]],
  ];
  for (const [label, files] of sets) {
    const lint = helmLint(CHART_DIR, { files });
    t.ok(lint.ok, `${label}: ${lint.output.trim()}`);
    t.notMatch(lint.output, /\[(WARNING|ERROR)\]/, `${label}: no warning`);
  }
});

t.test('helm lint --strict fails where the chart would be wrong', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'outrider-chart-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const broken = (file: string, edit: (text: string) => string): string => {
    const copy = join(dir, `case-${readdirSync(dir).length}`, 'outrider');
    cpSync(CHART_DIR, copy, { recursive: true });
    const path = join(copy, file);
    const text = readFileSync(path, 'utf8');
    const edited = edit(text);
    t.not(edited, text, `${file}: the edit applies`);
    writeFileSync(path, edited);
    return copy;
  };
  const cases: [string, string, (s: string) => string, RegExp][] = [
    ['a missing end', 'templates/service.yaml', (s) => s.replace('{{- end }}', ''), /unexpected EOF/],
    ['an unknown function', 'templates/service.yaml', (s) => s.replace('toYaml', 'toYml'), /function "toYml" not defined/],
    ['an include of no template', 'templates/service.yaml', (s) => s.replace('"outrider.labels"', '"outrider.lables"'), /no template "outrider.lables"/],
    ['an include of the rebound dot inside with', 'templates/service.yaml', (s) => s.replace('{{- toYaml . | nindent 4 }}', '{{- include "outrider.fullname" . }}'), /nil pointer evaluating interface \{\}\.fullnameOverride/],
    ['a field of a missing value', 'templates/service.yaml', (s) => s.replace('.Values.service.port', '.Values.servise.port'), /nil pointer evaluating interface \{\}\.port/],
    ['an object without a name', 'templates/service.yaml', (s) => s.replace(/^ {2}name: .*$/m, '  name: ""'), /object name does not conform/],
  ];
  for (const [what, file, edit, expected] of cases) {
    const lint = helmLint(broken(file, edit), { files: [ALL_OPTIONS] });
    t.notOk(lint.ok, `${what}: lint fails`);
    t.match(lint.output, expected, what);
  }
});

/** `.Values.a.b` and `$.Values.a.b` paths named in a template text. */
export function valuesPaths(text: string): string[][] {
  return [...text.matchAll(/\.Values((?:\.[A-Za-z_][A-Za-z0-9_]*)+)/g)].map((m) => (m[1] as string).slice(1).split('.'));
}

t.test('every .Values path a template names exists in values.yaml', async (t) => {
  const values = chartValues();
  const exists = (path: readonly string[]): boolean => {
    let node: unknown = values;
    for (const key of path) {
      if (typeof node !== 'object' || node === null || Array.isArray(node) || !(key in node)) return false;
      node = (node as Record<string, unknown>)[key];
    }
    return true;
  };
  t.same(valuesPaths('{{ .Values.a.b }} {{ with $.Values.c }}{{ end }} .Values'), [['a', 'b'], ['c']], 'the paths are read');
  t.notOk(exists(['servise', 'port']), 'a misspelt one is missing');
  const found = templates.flatMap((file) => valuesPaths(readFileSync(file, 'utf8')).map((path) => ({ file: file.slice(CHART_DIR.length + 1), path })));
  t.ok(found.length > 50, `${found.length} .Values references`);
  for (const { file, path } of found) t.ok(exists(path), `${file}: .Values.${path.join('.')}`);
});

/** values.yaml's leaves: scalars, lists and empty maps, with their paths. */
function leaves(node: unknown, path: string[] = []): { path: string[]; value: unknown }[] {
  if (typeof node === 'object' && node !== null && !Array.isArray(node) && Object.keys(node).length > 0) {
    return Object.entries(node).flatMap(([k, v]) => leaves(v, [...path, k]));
  }
  return [{ path, value: node }];
}

/** A different value of the same shape. */
function mutate(value: unknown): unknown {
  if (typeof value === 'boolean') return !value;
  if (typeof value === 'number') return value + 7;
  if (typeof value === 'string') return value === '' ? 'mutated' : `${value}-mutated`;
  if (value === null) return 100;
  if (Array.isArray(value)) return value.length === 0 ? ['mutated'] : [];
  return { mutated: 'yes' };
}

t.test('no value in values.yaml is dead: changing any of them changes the release', async (t) => {
  // Three bases: values.yaml alone, every option on, and that with the other side of its
  // either-or options (an existing ConfigMap, where `policy` is unused and `policyConfigMap.key`
  // is used; a PodMonitor instead of the ServiceMonitor). A value must change the release over
  // one of them.
  const bases: string[][] = [[], [ALL_OPTIONS], [ALL_OPTIONS, ALL_OPTIONS_VARIANT]];
  const rendered = bases.map((files) => helmRelease(CHART_DIR, { files }));
  for (const r of rendered) t.notMatch(r, /^error:/, 'the bases render');
  const all = leaves(chartValues());
  t.ok(all.length > 60, `${all.length} values`);
  const dead: string[] = [];
  for (const { path, value } of all) {
    const change = stringify(path.reduceRight<unknown>((inner, key) => ({ [key]: inner }), mutate(value)));
    const changes = bases.some((files, i) => helmRelease(CHART_DIR, { files, values: [change] }) !== rendered[i]);
    if (!changes) dead.push(path.join('.'));
  }
  t.same(dead, [], 'every value changes what helm renders');
  // And the check sees a dead value: one that no template reads.
  const withDead = helmRelease(CHART_DIR, { values: ['unusedValue: 1\n'] });
  t.equal(withDead, rendered[0], 'an unused value renders the same release');
});
