/**
 * scripts/check-charts.ts, the step .ci/run takes on every chart in charts/: each chart lints,
 * renders and validates with values.yaml and each example, and a chart that breaks any of the
 * three is reported, with the value set and the object.
 */
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { charts, checkChart, splitManifests } from '../../scripts/check-charts.js';
import { HELM } from './fixtures/helm.js';
import { CHART_DIR, exampleFiles } from './fixtures/chart.js';

t.test('every chart in charts/ lints, renders and validates with values.yaml and each example', async (t) => {
  const found = charts();
  t.ok(found.includes(CHART_DIR.replace(/\/$/, '')), `charts/outrider among ${found.join(', ')}`);
  for (const chart of found) {
    const r = await checkChart(HELM, chart);
    t.same(r.failures, [], r.chart);
    t.equal(r.lintPassed, r.sets.length, `${r.chart}: helm lint --strict ${r.lintPassed}/${r.sets.length}`);
    t.equal(r.rendered, r.sets.length, `${r.chart}: helm template ${r.rendered}/${r.sets.length}`);
    t.ok(r.objects >= r.sets.length, `${r.chart}: ${r.objects} objects validated`);
  }
  const outrider = await checkChart(HELM, CHART_DIR);
  t.same(outrider.sets, ['values.yaml', ...exampleFiles().map((f) => `examples/${f}`)], 'charts/outrider: values.yaml and every example');
});

t.test('a broken chart is reported: lint, render and schema failures, each with its value set', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'outrider-check-charts-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const chart = join(dir, 'outrider');
  cpSync(CHART_DIR, chart, { recursive: true });
  rmSync(join(chart, 'examples'), { recursive: true }); // values.yaml alone (the examples were checked above)
  const service = join(chart, 'templates/service.yaml');
  writeFileSync(service, readFileSync(service, 'utf8').replace('appProtocol: http', 'appProtocol: http\n      nodePortt: 30080'));
  const unknownField = await checkChart(HELM, chart);
  t.same([unknownField.lintPassed, unknownField.rendered], [1, 1], 'helm lint and helm template do not see an unknown field');
  t.same(unknownField.failures, [`${unknownField.chart} values.yaml: templates/service.yaml Service: /spec/ports/0/nodePortt: unknown field`], 'the schema check does');

  mkdirSync(join(chart, 'examples'));
  writeFileSync(join(chart, 'examples/broken.yaml'), 'replicaCount: many\n');
  const badValues = await checkChart(HELM, chart);
  t.same(badValues.sets, ['values.yaml', 'examples/broken.yaml']);
  const broken = badValues.failures.filter((f) => f.includes('examples/broken.yaml'));
  t.match(broken.join('\n'), /helm lint --strict failed[\s\S]*helm template failed/, 'an example the schema rejects fails lint and template');
  t.same([badValues.lintPassed, badValues.rendered], [1, 1]);
});

t.test('helm template output splits into documents with their templates', async (t) => {
  const docs = splitManifests('---\n# Source: c/templates/a.yaml\nkind: A\n---\n# Source: c/templates/b.yaml\n# only a comment\n---\n# Source: c/templates/tests/t.yaml\nkind: T\nvalue: off\n');
  t.same(docs, [
    { source: 'templates/a.yaml', doc: { kind: 'A' } },
    { source: 'templates/tests/t.yaml', doc: { kind: 'T', value: false } },
  ], 'empty documents dropped; YAML 1.1 as Helm reads it');
  t.throws(() => splitManifests('kind: A\n'), /without a # Source line/);
});
