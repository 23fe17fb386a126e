/**
 * Checks of the chart's templates that need no renderer and cover every branch, taken or not:
 * the actions are balanced and parse, every function is known, every include names a defined
 * template and passes the root context, every .Values path used exists in values.yaml (and
 * every value is used), .Values is never read through a rebound dot, and the chart's files and
 * Chart.yaml are what Helm's best practices ask for.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { analyze, loadChart, readYaml, type Reference } from './fixtures/helm.js';
import { CHART_DIR, ROOT, chartValues } from './fixtures/chart.js';

const chart = loadChart(CHART_DIR);
const analyses = [...chart.templates].map(([file, text]) => ({ file, ...analyze(text, file) }));
const defined = new Set(analyses.flatMap((a) => [...a.defines]));
const references = analyses.flatMap((a) => a.references);
const valuesRefs = references.filter((r) => r.kind === 'values');
const where = (r: Reference): string => `${r.file}:${r.line}`;

t.test('the chart has the files Helm expects', async (t) => {
  for (const file of ['Chart.yaml', 'values.yaml', 'values.schema.json', '.helmignore', 'README.md', 'templates/NOTES.txt', 'templates/_helpers.tpl']) {
    t.ok(existsSync(join(CHART_DIR, file)), file);
  }
  const meta = chart.metadata;
  t.equal(meta.apiVersion, 'v2');
  t.equal(meta.name, 'outrider', 'the name is the folder name');
  t.match(String(meta.version), /^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$/, 'version is SemVer 2');
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
  t.equal(meta.appVersion, pkg.version, 'appVersion is the package version (the default image tag)');
  t.match(String(meta.kubeVersion), /^>=1\.(29|[3-9]\d)\./, 'kubeVersion asks for native sidecars (1.29+)');
  t.equal(meta.type, 'application');
});

t.test('every template parses: balanced actions and blocks, known functions', async (t) => {
  t.ok(chart.templates.size >= 8, `${chart.templates.size} template files`);
  t.same([...defined].filter((name) => !name.startsWith('outrider.')), [], 'every defined template is namespaced with the chart name');
});

t.test('every include names a defined template and passes the root context', async (t) => {
  const includes = references.filter((r) => r.kind === 'include');
  t.ok(includes.length > 20, `${includes.length} includes`);
  for (const r of includes) {
    t.ok(defined.has(r.path[0] as string), `${where(r)}: include "${r.path[0]}" is defined`);
    if (r.data !== 'other') t.ok(r.data === 'root' || !r.scoped, `${where(r)}: include "${r.path[0]}" inside with/range passes $, not the rebound dot`);
    else t.fail(`${where(r)}: include "${r.path[0]}" passes neither . nor $`);
  }
  const used = new Set(includes.map((r) => r.path[0]));
  t.same([...defined].filter((d) => !used.has(d)), [], 'every defined template is used');
});

t.test('every .Values path used exists in values.yaml', async (t) => {
  const values = chartValues();
  const exists = (path: readonly string[]): boolean => {
    let node: unknown = values;
    for (const key of path) {
      if (typeof node !== 'object' || node === null || Array.isArray(node) || !(key in node)) return false;
      node = (node as Record<string, unknown>)[key];
    }
    return true;
  };
  t.ok(valuesRefs.length > 50, `${valuesRefs.length} .Values references`);
  for (const r of valuesRefs) t.ok(exists(r.path), `${where(r)}: .Values.${r.path.join('.')}`);
  for (const r of valuesRefs) if (r.scoped && !r.viaRoot) t.fail(`${where(r)}: .Values inside with/range reads the rebound dot: use $.Values`);
});

t.test('every value in values.yaml is used by a template', async (t) => {
  const used = valuesRefs.map((r) => r.path.join('.'));
  const unused: string[] = [];
  const walk = (node: unknown, path: string[]): void => {
    const key = path.join('.');
    const touched = used.some((u) => u === key || u.startsWith(`${key}.`) || key.startsWith(`${u}.`));
    if (!touched) {
      unused.push(key);
      return;
    }
    if (used.includes(key)) return; // used whole (toYaml, with)
    if (typeof node === 'object' && node !== null && !Array.isArray(node)) {
      for (const [k, v] of Object.entries(node)) walk(v, [...path, k]);
    }
  };
  for (const [k, v] of Object.entries(chartValues())) walk(v, [k]);
  t.same(unused, [], 'no value is dead');
});

t.test('the renderer-free checks catch what they are for', async (t) => {
  const bad = (text: string): readonly Reference[] => analyze(text, 'x.yaml').references;
  t.throws(() => analyze('{{ if .Values.a }}x', 'x.yaml'), /not closed/, 'a missing end');
  t.throws(() => analyze('x{{ end }}', 'x.yaml'), /unexpected \{\{end\}\}/, 'an extra end');
  t.throws(() => analyze('{{ toYml .Values.a }}', 'x.yaml'), /function "toYml" not defined/, 'an unknown function');
  t.throws(() => analyze('{{ .Values.a }', 'x.yaml'), /unclosed action/, 'a missing brace');
  t.throws(() => analyze('{{ printf "%s }}', 'x.yaml'), /unterminated string|unclosed action/, 'an unterminated string');
  const scoped = bad('{{ with .Values.a }}{{ .Values.b }}{{ end }}');
  t.same(scoped.map((r) => [r.path.join('.'), r.scoped, r.viaRoot]), [['a', false, false], ['b', true, false]], '.Values inside with is seen as scoped');
  const inc = bad('{{ range .Values.l }}{{ include "outrider.name" . }}{{ end }}');
  t.same(inc.filter((r) => r.kind === 'include').map((r) => [r.scoped, r.data]), [[true, 'dot']], 'include of the rebound dot is seen');
  const values = readYaml('a:\n  b: 1\n') as Record<string, unknown>;
  t.notOk('c' in (values.a as object), 'a path that values.yaml lacks');
});
