/** The terminal report: each scenario's tables as aligned text, then its verdicts. */
import type { Check, ScenarioResult, Table } from '../scenarios/types.js';

function renderTable(table: Table): string {
  const widths = table.columns.map((c, i) => Math.max(c.length, ...table.rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]): string =>
    cells.map((cell, i) => (i === 0 ? cell.padEnd(widths[i] ?? 0) : cell.padStart(widths[i] ?? 0))).join('  ');
  const out = [`  ${table.title}`, `  ${line(table.columns)}`, `  ${widths.map((w) => '─'.repeat(w)).join('  ')}`];
  for (const row of table.rows) out.push(`  ${line(row)}`);
  if (table.note) out.push(`  ${table.note}`);
  return out.join('\n');
}

export function verdictMark(check: Check): string {
  return check.pass === null ? '·' : check.pass ? '✔' : '✘';
}

function renderChecks(checks: readonly Check[]): string {
  if (checks.length === 0) return '';
  // "functional": checked in --smoke too (report/smoke.ts).
  const lines = checks.map((c) => `  ${verdictMark(c)} [${c.source}${c.issue ? ` (issue ${c.issue})` : ''}${c.functional ? ', functional' : ''}] ${c.name}: ${c.value} (target ${c.target})`);
  return ['  Verdict', ...lines].join('\n');
}

export function renderScenario(result: ScenarioResult): string {
  const head = `■ ${result.name} — ${result.title}  [${result.status}${result.reason ? `: ${result.reason}` : ''}, ${result.seconds.toFixed(1)} s]`;
  const parts = [head, ...result.tables.map(renderTable), renderChecks(result.checks)].filter((p) => p !== '');
  return parts.join('\n\n');
}
