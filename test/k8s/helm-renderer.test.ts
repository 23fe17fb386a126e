/**
 * The stand-in renderer (test/k8s/fixtures/helm.ts) behaves as Go's text/template and Helm do
 * where charts commonly go wrong, so a chart that renders here is not wrong in those ways.
 */
import t from 'tap';
import { coalesce, render, readYaml, type Chart } from './fixtures/helm.js';

/** A one-template chart; NOTES.txt is rendered but not parsed as YAML, like Helm's. */
function chartOf(template: string, values = '', file = 'templates/NOTES.txt'): Chart {
  return {
    dir: '/nowhere',
    metadata: { apiVersion: 'v2', name: 'demo', version: '1.0.0', appVersion: '2.0.0' },
    values: (readYaml(values) ?? {}) as Record<string, unknown>,
    templates: new Map([
      ['templates/_helpers.tpl', '{{- define "demo.name" -}}{{ .Chart.Name }}-{{ .Release.Name }}{{- end }}'],
      [file, template],
    ]),
  };
}
const out = (template: string, values = '', override: unknown = {}): string =>
  render(chartOf(template, values), override).files.get('templates/NOTES.txt') ?? '';

t.test('text/template: trimming, pipelines, variables, blocks', async (t) => {
  t.equal(out('a:\n  {{- " b" }}\n  c {{- "d" -}}  \n e'), 'a: b\n  cde');
  t.equal(out('{{ "x" | printf "%s-%s" "y" }}'), 'y-x', 'the piped value is the last argument');
  t.equal(out('{{ $n := 2 }}{{ if true }}{{ $n = 3 }}{{ end }}{{ $n }}'), '3', '= assigns to the outer variable');
  t.equal(out('{{ range $i, $v := .Values.l }}{{ $i }}={{ $v }};{{ end }}', 'l: [a, b]'), '0=a;1=b;');
  t.equal(out('{{ range $k, $v := .Values.m }}{{ $k }}{{ $v }}{{ end }}', 'm: { b: 2, a: 1 }'), 'a1b2', 'maps range in key order');
  t.equal(out('{{ with .Values.m }}{{ .a }}{{ $.Chart.Name }}{{ else }}none{{ end }}', 'm: { a: 1 }'), '1demo');
  t.equal(out('{{ with .Values.missing }}x{{ else }}none{{ end }}'), 'none');
  t.equal(out('{{ if eq 1 2 }}a{{ else if eq 2 2 }}b{{ else }}c{{ end }}'), 'b');
  t.equal(out('{{/* a comment */}}x{{- /* trimmed */ -}}  y'), 'xy');
  t.equal(out('{{ include "demo.name" . | upper }}'), 'DEMO-DEMO');
  t.equal(out('{{ toYaml .Values.m | nindent 2 }}', 'm: { b: [1, 2], a: "on" }'), '\n  a: "on"\n  b:\n  - 1\n  - 2', 'toYaml: sorted keys, unindented lists, YAML 1.1 quoting');
});

t.test('Go and Helm where charts trip', async (t) => {
  t.equal(out('{{ .Values.big }}', 'big: 1000000'), '1e+06', 'a large YAML number prints as a float64');
  t.equal(out('{{ int .Values.big }}', 'big: 1000000'), '1000000', 'int fixes that');
  t.throws(() => out('{{ if eq .Values.port 80 }}x{{ end }}', 'port: 80'), /incompatible types for comparison \(float64 and int\)/, 'eq float64 int');
  t.throws(() => out('{{ printf "%d" .Values.port }}', 'port: 80'), /%d got float64/, 'printf %d of a value');
  t.throws(() => out('{{ .Values.a.b }}'), /nil pointer evaluating interface \{\}\.b/, 'a field of a missing value');
  t.equal(out('[{{ .Values.a }}]'), '[]', 'a missing value prints empty');
  t.throws(() => out('{{ .Chart.Nmae }}'), /can't evaluate field Nmae/, 'a misspelt built-in field');
  t.throws(() => out('{{ include "demo.nmae" . }}'), /no template "demo.nmae"/);
  t.throws(() => out('{{ required "x is required" .Values.x }}'), /x is required/);
  t.throws(() => out('{{ fail "no" }}'), /fail: no/);
  t.equal(out('{{ .Values.a }}', 'a: off'), 'false', 'values are YAML 1.1: off is false');
  t.same(coalesce(readYaml('a: { b: 1, c: 2 }\nl: [1, 2]'), readYaml('a: { c: null, d: 4 }\nl: [3]')), { a: { b: 1, d: 4 }, l: [3] }, 'coalesce: maps merge, null deletes, lists replace');
  t.throws(() => render(chartOf('a: [\n', '', 'templates/x.yaml'), {}), /invalid YAML/, 'a manifest that is not YAML');
  t.equal(render(chartOf('a: 1\n---\n# only a comment\n---\nb: 2\n', '', 'templates/x.yaml')).manifests.length, 2, 'documents split on ---, empty ones dropped');
});
