/**
 * The footprint scenario over several runs, as bench/RESULTS.md gives it: per target, the
 * median over runs of each figure (each run's figure is itself a median of its passes), and the
 * per-run values of the ratios that issue 16's verdicts use.
 *
 *   npx tsx bench/report/footprint-runs.ts run1/results.json run2/results.json run3/results.json
 */
import fs from 'node:fs';
import { fmt, median } from '../lib/stats.js';
import type { Summary } from '../scenarios/footprint-report.js';

interface Results {
  readonly machine: { readonly runtimes?: { readonly outrider?: { readonly version: string }; readonly outriderNodeOptions?: string } };
  readonly scenarios: readonly { readonly name: string; readonly data: unknown }[];
}

type Figure = Exclude<keyof Summary, 'target'>;
const FIGURES: readonly [Figure, string, number][] = [
  ['addedP50', '+p50 ms @1k', 2],
  ['addedP99', '+p99 ms @1k', 2],
  ['wrkRps', 'wrk req/s', 0],
  ['rpsOverUndici', '÷ undici', 2],
  ['rpsOverNginx', '÷ nginx', 2],
  ['rpsOverUndiciMachine', "÷ undici on the machine's Node", 2],
  ['cpuUsPerRequest', 'CPU µs/req @5k', 1],
  ['cpuOverUndici', 'CPU ÷ undici', 2],
  ['cpuUsPerRequestPatterns', 'patterns CPU µs/req', 1],
  ['patternsCpuOverPlain', 'patterns ÷ plain', 2],
  ['allocBytesPerRequest', 'heap B/req', 0],
  ['allocBytesPerRequestPatterns', 'patterns heap B/req', 0],
  ['scavengesPer10k', 'scavenges /10k', 1],
  ['idleRssMiB', 'RSS idle MiB', 1],
  ['rssAt5kMiB', 'RSS @5k MiB', 1],
  ['idleAnonMiB', 'private idle MiB', 1],
  ['anonAt5kMiB', 'private @5k MiB', 1],
];

function summaries(file: string): Summary[] {
  const results = JSON.parse(fs.readFileSync(file, 'utf8')) as Results;
  const footprint = results.scenarios.find((s) => s.name === 'footprint');
  if (!footprint) throw new Error(`${file}: no footprint scenario`);
  return (footprint.data as { summaries: Summary[] }).summaries;
}

const files = process.argv.slice(2);
if (files.length === 0) {
  console.error('usage: tsx bench/report/footprint-runs.ts results.json [results.json ...]');
  process.exit(2);
}
const runs = files.map(summaries);
const targets = [...new Set(runs.flatMap((r) => r.map((s) => s.target)))].filter((t) => t !== 'direct');
const value = (run: Summary[], target: string, f: Figure): number | undefined => {
  const v = run.find((s) => s.target === target)?.[f];
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
};
console.log(`Medians of ${runs.length} runs (${files.join(', ')})\n`);
console.log(`| figure | ${targets.join(' | ')} |`);
console.log(`|---|${targets.map(() => '---').join('|')}|`);
for (const [f, label, digits] of FIGURES) {
  const cells = targets.map((t) => {
    const values = runs.map((r) => value(r, t, f)).filter((v): v is number => v !== undefined);
    return values.length === 0 ? '—' : `${fmt(median(values), digits)}${runs.length > 1 ? ` (${values.map((v) => fmt(v, digits)).join(', ')})` : ''}`;
  });
  console.log(`| ${label} | ${cells.join(' | ')} |`);
}
