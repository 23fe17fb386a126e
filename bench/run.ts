/**
 * The bench's entry point: `npm run bench [-- --scenario hedge,breaker --duration 30s --full]`.
 * Runs each chosen scenario in turn, prints a table per scenario, and writes
 * `<out>/results.json` and a self-contained `<out>/report.html`.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { LoadGenerator } from './loadgen/index.js';
import { buildChildren, BENCH_DIR } from './lib/build.js';
import { outriderBuilt, setOutriderRuntime } from './lib/outrider.js';
import { machineRuntime, shippedEnv, shippedNodeOptions, shippedRuntime, type Runtime } from './lib/runtimes.js';
import { installCleanup, pinningAvailable, pinSelf, stopAll } from './lib/procs.js';
import { PROFILES, type Profile, type ProfileName } from './lib/profile.js';
import { removeTempDirs } from './lib/tmp.js';
import { writeHtmlReport, type Report } from './report/html.js';
import { smokeFailures } from './report/smoke.js';
import { renderScenario } from './report/table.js';
import { SCENARIOS } from './scenarios/index.js';
import type { ScenarioContext, ScenarioOutcome, ScenarioResult, Table } from './scenarios/types.js';

const USAGE = `usage: tsx bench/run.ts [--scenario NAME[,NAME]] [--quick|--full|--smoke] [--duration 30s] [--passes N] [--out DIR] [--cpu-prof] [--baseline DIR] [--render results.json]
scenarios: ${SCENARIOS.map((s) => s.name).join(', ')}`;

/** "30s", "500ms", "2m" or a bare number of seconds. */
export function parseDuration(text: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(text.trim());
  if (!match) throw new Error(`bad duration "${text}" (try 30s, 500ms, 2m)`);
  const value = Number(match[1]);
  return match[2] === 'ms' ? value : match[2] === 'm' ? value * 60_000 : value * 1000;
}

interface Options {
  readonly profile: Profile;
  readonly scenarios: readonly string[];
  readonly outDir: string;
  /** Profile Outrider in the overhead scenario (its figures are then not for RESULTS.md). */
  readonly cpuProf: boolean;
  /** A built checkout of other code (before a change) that the footprint scenario measures beside this one. */
  readonly baselineDir: string | undefined;
}

function parseOptions(argv: readonly string[]): Options {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      scenario: { type: 'string' },
      duration: { type: 'string' },
      passes: { type: 'string' },
      out: { type: 'string' },
      quick: { type: 'boolean' },
      full: { type: 'boolean' },
      smoke: { type: 'boolean' },
      render: { type: 'string' },
      'cpu-prof': { type: 'boolean' },
      baseline: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  if (values.render) {
    // Re-draws report.html from an earlier results.json (no measuring).
    const file = path.resolve(values.render);
    writeHtmlReport(path.join(path.dirname(file), 'report.html'), JSON.parse(fs.readFileSync(file, 'utf8')) as Report);
    console.log(`wrote ${path.join(path.dirname(file), 'report.html')}`);
    process.exit(0);
  }
  const name: ProfileName = values.smoke ? 'smoke' : values.full ? 'full' : 'quick';
  let profile: Profile = PROFILES[name];
  if (values.duration) {
    // One measured window for every scenario: `--scenario hedge --duration 30s` means 30 s hedge runs.
    const ms = parseDuration(values.duration);
    profile = { ...profile, durationMs: ms, patternDurationMs: ms };
  }
  if (values.passes) profile = { ...profile, passes: Math.max(1, Math.floor(Number(values.passes))) };
  const known = new Set(SCENARIOS.map((s) => s.name));
  const scenarios = values.scenario ? values.scenario.split(',').map((s) => s.trim()).filter(Boolean) : SCENARIOS.map((s) => s.name);
  for (const s of scenarios) if (!known.has(s)) throw new Error(`unknown scenario "${s}"\n${USAGE}`);
  const baselineDir = values.baseline ? path.resolve(values.baseline) : undefined;
  if (baselineDir && !outriderBuilt(baselineDir)) throw new Error(`--baseline ${baselineDir}: no dist/main.js there (clone the commit and npm ci && npm run build in it)`);
  return { profile, scenarios, outDir: path.resolve(values.out ?? path.join(BENCH_DIR, 'out')), cpuProf: values['cpu-prof'] === true, baselineDir };
}

/** The machine, for results.json and RESULTS.md (numbers mean little without it). */
function machine(runtimes: ScenarioContext['runtimes']): Record<string, unknown> {
  const describe = (r: Runtime): Record<string, string> => ({ version: r.version, node: r.node, source: r.source });
  return {
    runtimes: {
      outrider: describe(runtimes.outrider),
      machine: describe(runtimes.machine),
      ...(runtimes.shippedMissing ? { shippedMissing: runtimes.shippedMissing } : {}),
      outriderNodeOptions: shippedNodeOptions(),
      outriderEnv: shippedEnv(),
    },
    nproc: os.cpus().length, // not availableParallelism(): the runner has pinned itself to one core by now
    cpu: os.cpus()[0]?.model ?? 'unknown',
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    node: process.version,
    platform: `${os.platform()} ${os.release()}`,
    pinned: pinningAvailable() ? 'generator, upstreams, runner on core 0; proxy under test on core 1 (taskset)' : 'not pinned (taskset missing or one core)',
  };
}

async function main(): Promise<number> {
  const options = parseOptions(process.argv.slice(2));
  installCleanup();
  process.on('exit', removeTempDirs); // also after Ctrl-C, when main's finally never runs
  pinSelf();
  const log = (message: string): void => void process.stderr.write(`${message}\n`);
  log(`bench: ${options.profile.name} profile, ${options.profile.passes} pass(es) of ${options.profile.durationMs / 1000} s, scenarios: ${options.scenarios.join(', ')}`);
  if (!outriderBuilt()) log('bench: dist/main.js is missing (npm run build): Outrider is reported as not measured');
  await buildChildren();
  const runtimes = resolveRuntimes(log);
  const loadgen = await LoadGenerator.start();
  const results: ScenarioResult[] = [];
  const startedAt = new Date().toISOString();
  try {
    for (const scenario of SCENARIOS.filter((s) => options.scenarios.includes(s.name))) {
      log(`\n▶ ${scenario.name}: ${scenario.title}`);
      const t0 = performance.now();
      let outcome: ScenarioOutcome;
      try {
        const cpuProfDir = options.cpuProf ? path.join(options.outDir, 'profiles') : undefined;
        outcome = await scenario.run({ profile: options.profile, loadgen, log, runtimes, ...(cpuProfDir ? { cpuProfDir } : {}), ...(options.baselineDir ? { baselineDir: options.baselineDir } : {}) });
        outcome = { ...outcome, tables: outcome.tables.map((t) => sayRuntime(t, runtimes)) };
      } catch (err) {
        log(`  failed: ${err instanceof Error ? err.stack : String(err)}`);
        outcome = { status: 'failed', reason: err instanceof Error ? err.message.split('\n')[0] : String(err), tables: [], charts: [], checks: [], data: {} };
      }
      const result: ScenarioResult = { name: scenario.name, title: scenario.title, seconds: (performance.now() - t0) / 1000, ...outcome };
      if (result.status === 'skipped') log(`  skipped: ${result.reason}`);
      results.push(result);
      console.log(`\n${renderScenario(result)}`);
    }
  } finally {
    await loadgen.close();
    await stopAll();
    removeTempDirs();
  }
  fs.mkdirSync(options.outDir, { recursive: true });
  const report: Report = { startedAt, profile: options.profile, machine: machine(runtimes), scenarios: results };
  fs.writeFileSync(path.join(options.outDir, 'results.json'), `${JSON.stringify(report, null, 2)}\n`);
  writeHtmlReport(path.join(options.outDir, 'report.html'), report);
  log(`\nbench: wrote ${path.join(options.outDir, 'results.json')} and report.html`);
  if (options.profile.name === 'smoke') return smokeVerdict(results, log);
  // Skipped scenarios are not failures (their pattern has not landed); a crashed one is.
  return results.some((r) => r.status === 'failed') ? 1 : 0;
}

/**
 * Outrider runs on the Node.js the image ships, fetched by the bench (lib/runtimes.ts); when
 * that fails it runs on this machine's, and every table says so.
 */
function resolveRuntimes(log: (message: string) => void): ScenarioContext['runtimes'] {
  const machine = machineRuntime();
  const shipped = shippedRuntime(log);
  if (!shipped.ok) {
    log(`bench: ${shipped.reason}; Outrider runs on this machine's Node ${machine.version} instead`);
    return { outrider: machine, machine, shippedMissing: shipped.reason };
  }
  setOutriderRuntime(shipped);
  log(`bench: Outrider on Node ${shipped.version} (the image's; ${shipped.source}), the image's environment ${Object.entries(shippedEnv()).map(([k, v]) => `${k}="${v}"`).join(' ')}; generator and peers on Node ${machine.version} (this machine's) unless a target says otherwise`);
  return { outrider: shipped, machine };
}

/** Every table says which Node.js ran Outrider (issue 16). */
function sayRuntime(table: Table, runtimes: ScenarioContext['runtimes']): Table {
  const line = `Outrider on Node ${runtimes.outrider.version}${runtimes.shippedMissing ? ' (this machine\'s: the image\'s Node could not be fetched)' : " (the image's)"}, unless a target names its Node; generator and peers on Node ${runtimes.machine.version}.`;
  return { ...table, note: table.note ? `${table.note} ${line}` : line };
}

/** --smoke (CI) fails on anything Outrider did wrong; see report/smoke.ts. */
function smokeVerdict(results: readonly ScenarioResult[], log: (message: string) => void): number {
  const failures = smokeFailures(results);
  const notInstalled = results.filter((r) => r.status === 'skipped' && r.skipCause === 'peer').map((r) => `${r.name} (${r.reason ?? ''})`);
  if (notInstalled.length > 0) log(`bench smoke: not run, a peer is not installed (not a failure): ${notInstalled.join('; ')}`);
  if (failures.length === 0) {
    log(`bench smoke: passed (${results.length} scenarios)`);
    return 0;
  }
  log(`bench smoke: FAILED, ${failures.length} problem(s):`);
  for (const failure of failures) log(`  ✘ ${failure}`);
  return 1;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err instanceof Error ? err.message : err);
    void stopAll().finally(() => process.exit(2));
  },
);
