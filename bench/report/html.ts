/**
 * The HTML report: one self-contained file (Chart.js inlined from node_modules, the results
 * embedded as JSON) that opens anywhere without a server or a network. Per scenario: status,
 * verdicts against the targets, the tables, and charts:
 * - a latency percentile spectrum per configuration, as HdrHistogram plots it: x is 1/(1-q) on a
 *   log scale, so 90%, 99%, 99.9% are evenly spaced and the tail gets the room it deserves;
 * - bars for throughput;
 * - a latency-over-time scatter with markers (the breaker's down/up).
 */
import fs from 'node:fs';
import path from 'node:path';
import { REPO_DIR } from '../lib/build.js';
import type { Check, ScenarioResult, Table } from '../scenarios/types.js';

export interface Report {
  readonly startedAt: string;
  readonly profile: { readonly name: string; readonly durationMs: number; readonly passes: number };
  readonly machine: Record<string, unknown>;
  readonly scenarios: readonly ScenarioResult[];
}

function chartJsSource(): string {
  return fs.readFileSync(path.join(REPO_DIR, 'node_modules', 'chart.js', 'dist', 'chart.umd.min.js'), 'utf8');
}

const escapeHtml = (s: string): string => s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c] as string);

/** JSON that is safe inside a <script> element. */
const scriptJson = (value: unknown): string => JSON.stringify(value).replace(/</g, '\\u003c');

function tableHtml(table: Table): string {
  const head = table.columns.map((c) => `<th>${escapeHtml(c)}</th>`).join('');
  const rows = table.rows.map((r) => `<tr>${r.map((c) => `<td>${escapeHtml(c)}</td>`).join('')}</tr>`).join('\n');
  const note = table.note ? `<p class="note">${escapeHtml(table.note)}</p>` : '';
  return `<h3>${escapeHtml(table.title)}</h3><div class="scroll"><table><thead><tr>${head}</tr></thead><tbody>${rows}</tbody></table></div>${note}`;
}

function checkHtml(check: Check): string {
  const cls = check.pass === null ? 'na' : check.pass ? 'pass' : 'fail';
  const mark = check.pass === null ? 'not measured' : check.pass ? 'meets' : 'misses';
  const tag = check.source === 'seed' ? 'seed target' : check.source === 'ours' ? 'our target' : 'bench check';
  return `<li class="${cls}"><span class="tag">${tag}${check.issue ? ` (issue ${check.issue})` : ''}</span> ${escapeHtml(check.name)}: <b>${escapeHtml(check.value)}</b> — target ${escapeHtml(check.target)} — <i>${mark}</i></li>`;
}

/** A sentence per scenario: how many targets it meets, misses, could not measure. */
export function verdictSentence(result: ScenarioResult): string {
  if (result.status !== 'ok') return `${result.status === 'skipped' ? 'Skipped' : 'Failed'}: ${result.reason ?? ''}`;
  const met = result.checks.filter((c) => c.pass === true).length;
  const missed = result.checks.filter((c) => c.pass === false);
  const na = result.checks.filter((c) => c.pass === null).length;
  if (result.checks.length === 0) return 'Measured; no target applies.';
  const parts = [`meets ${met} of ${result.checks.length} targets`];
  if (missed.length > 0) parts.push(`misses ${missed.map((c) => `${c.name} (${c.value} vs ${c.target})`).join('; ')}`);
  if (na > 0) parts.push(`${na} not measured`);
  return `${parts.join('; ')}.`;
}

function scenarioHtml(result: ScenarioResult, index: number): string {
  const charts = result.charts.map((_, i) => `<div class="chart"><canvas id="c-${index}-${i}"></canvas></div>`).join('');
  const checks = result.checks.length > 0 ? `<ul class="checks">${result.checks.map(checkHtml).join('')}</ul>` : '';
  return `<section>
<h2>${escapeHtml(result.name)} <small>${escapeHtml(result.title)}</small> <span class="status ${result.status}">${result.status}</span></h2>
<p class="verdict">${escapeHtml(verdictSentence(result))}</p>
${checks}
<div class="charts">${charts}</div>
${result.tables.map(tableHtml).join('\n')}
</section>`;
}

/** Runs in the browser: turns each chart description into a Chart.js chart. */
const PAGE_SCRIPT = `
const COLORS = ['#1f77b4','#d62728','#2ca02c','#ff7f0e','#9467bd','#8c564b','#e377c2','#7f7f7f','#17becf'];
const quantileLabel = (x) => { if (x <= 1) return '0%'; const digits = Math.max(0, Math.ceil(Math.log10(x)) - 2); return (100 * (1 - 1 / x)).toFixed(digits) + '%'; };
const markerPlugin = { id: 'markers', afterDraw(chart, _a, opts) {
  const { ctx, chartArea, scales } = chart; if (!opts || !opts.list) return;
  ctx.save(); ctx.strokeStyle = '#555'; ctx.fillStyle = '#333'; ctx.setLineDash([4, 3]); ctx.font = '12px sans-serif';
  for (const m of opts.list) { const x = scales.x.getPixelForValue(m.t); if (x < chartArea.left || x > chartArea.right) continue;
    ctx.beginPath(); ctx.moveTo(x, chartArea.top); ctx.lineTo(x, chartArea.bottom); ctx.stroke(); ctx.fillText(m.label, x + 4, chartArea.top + 14); }
  ctx.restore(); } };
function config(c) {
  const title = { display: true, text: c.title, font: { size: 14 } };
  if (c.kind === 'spectrum') return { type: 'line', data: { datasets: c.series.map((s, i) => ({ label: s.label, borderColor: COLORS[i % COLORS.length], backgroundColor: COLORS[i % COLORS.length], pointRadius: 2, borderWidth: 2, data: s.points.map((p) => ({ x: 1 / Math.max(1e-7, 1 - p.q), y: Math.max(p.ms, 0.001) })) })) },
    options: { animation: false, plugins: { title, tooltip: { callbacks: { title: (items) => quantileLabel(items[0].parsed.x) } } },
      scales: { x: { type: 'logarithmic', min: 1, title: { display: true, text: 'percentile' }, ticks: { autoSkip: false, maxRotation: 0, callback: (v) => { const l = Math.log10(v); return Math.abs(l - Math.round(l)) < 1e-9 || v === 2 ? quantileLabel(v) : ''; } } },
        y: { type: 'logarithmic', title: { display: true, text: 'latency (ms)' } } } } };
  if (c.kind === 'bars') return { type: 'bar', data: { labels: c.labels, datasets: c.series.map((s, i) => ({ label: s.label, data: s.values, backgroundColor: COLORS[i % COLORS.length] })) },
    options: { animation: false, plugins: { title }, scales: { y: { beginAtZero: true, title: { display: true, text: c.unit } } } } };
  return { type: 'scatter', data: { datasets: c.series.map((s, i) => ({ label: s.label, backgroundColor: COLORS[i % COLORS.length], pointRadius: 1.5, data: s.points.map((p) => ({ x: p.t, y: Math.max(p.ms, 0.001) })) })) },
    options: { animation: false, plugins: { title, markers: { list: c.markers } }, scales: { x: { title: { display: true, text: 'time (s)' } }, y: { type: 'logarithmic', title: { display: true, text: 'latency (ms)' } } } },
    plugins: [markerPlugin] };
}
REPORT.scenarios.forEach((s, i) => s.charts.forEach((c, j) => { const el = document.getElementById('c-' + i + '-' + j); if (el) new Chart(el, config(c)); }));
`;

const STYLE = `
body { font: 14px/1.45 system-ui, sans-serif; margin: 24px; color: #222; max-width: 1400px; }
h1 { margin-bottom: 4px; } h2 small { font-weight: normal; color: #555; font-size: 15px; }
section { border-top: 1px solid #ddd; padding-top: 8px; margin-top: 24px; }
.status { font-size: 12px; padding: 2px 8px; border-radius: 10px; vertical-align: middle; }
.status.ok { background: #d9f2dd; } .status.skipped { background: #eee; } .status.failed { background: #f6d5d5; }
.checks { list-style: none; padding-left: 0; } .checks li { margin: 2px 0; }
.checks .pass::before { content: '✔ '; color: #2a8a3a; } .checks .fail::before { content: '✘ '; color: #c0392b; } .checks .na::before { content: '· '; color: #888; }
.tag { font-size: 11px; color: #666; border: 1px solid #ccc; border-radius: 3px; padding: 0 4px; }
.charts { display: flex; flex-wrap: wrap; gap: 16px; } .chart { width: 640px; height: 360px; }
table { border-collapse: collapse; font-size: 12.5px; } td, th { border: 1px solid #ddd; padding: 3px 7px; text-align: right; white-space: nowrap; }
td:first-child, th:first-child { text-align: left; } th { background: #f4f4f4; } .scroll { overflow-x: auto; }
.note, .machine { color: #555; font-size: 12.5px; } .verdict { font-weight: 600; }
`;

export function renderHtml(report: Report, chartJs: string): string {
  const m = report.machine;
  const machine = Object.entries(m).map(([k, v]) => `${escapeHtml(k)}: ${escapeHtml(String(v))}`).join(' · ');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Outrider bench report</title><style>${STYLE}</style></head>
<body>
<h1>Outrider bench report</h1>
<p class="machine">${escapeHtml(report.startedAt)} · profile ${escapeHtml(report.profile.name)} (${report.profile.passes} pass(es) of ${report.profile.durationMs / 1000} s) · ${machine}</p>
${report.scenarios.map(scenarioHtml).join('\n')}
<script>${chartJs}</script>
<script>const REPORT = ${scriptJson({ scenarios: report.scenarios.map((s) => ({ charts: s.charts })) })};</script>
<script>${PAGE_SCRIPT}</script>
</body></html>
`;
}

export function writeHtmlReport(file: string, report: Report): void {
  fs.writeFileSync(file, renderHtml(report, chartJsSource()));
}
