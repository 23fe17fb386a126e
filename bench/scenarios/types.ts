/**
 * What a scenario receives and what it hands back. Results are plain data: the terminal table,
 * results.json and the HTML report are all drawn from the same `ScenarioResult`.
 */
import type { LoadGenerator } from '../loadgen/index.js';
import type { SpectrumPoint } from '../loadgen/histogram.js';
import type { Profile } from '../lib/profile.js';
import type { Runtime } from '../lib/runtimes.js';

export interface ScenarioContext {
  readonly profile: Profile;
  readonly loadgen: LoadGenerator;
  /** When set (`--cpu-prof`), Outrider runs under `node --cpu-prof` and writes its profile here. */
  readonly cpuProfDir?: string;
  /** Outrider's runtime (the image's Node when the bench could fetch it) and the machine's. */
  readonly runtimes: { readonly outrider: Runtime; readonly machine: Runtime; readonly shippedMissing?: string };
  /** `--baseline DIR`: another built checkout (the code before a change), measured beside this one. */
  readonly baselineDir?: string;
  /** A line of progress for the terminal (stderr). */
  log(message: string): void;
}

export interface Table {
  readonly title: string;
  readonly columns: readonly string[];
  readonly rows: readonly (readonly string[])[];
  readonly note?: string;
}

/** A latency percentile spectrum per configuration (HdrHistogram's plot). */
export interface SpectrumChart {
  readonly kind: 'spectrum';
  readonly title: string;
  readonly series: readonly { readonly label: string; readonly points: readonly SpectrumPoint[] }[];
}

export interface BarChart {
  readonly kind: 'bars';
  readonly title: string;
  readonly unit: string;
  readonly labels: readonly string[];
  readonly series: readonly { readonly label: string; readonly values: readonly (number | null)[] }[];
}

/** Latency over time (the breaker's open and close), with vertical markers. */
export interface TimelineChart {
  readonly kind: 'timeline';
  readonly title: string;
  readonly series: readonly { readonly label: string; readonly points: readonly { readonly t: number; readonly ms: number }[] }[];
  readonly markers: readonly { readonly t: number; readonly label: string }[];
}

export type Chart = SpectrumChart | BarChart | TimelineChart;

/** One figure held against a target. `pass` is null when the figure could not be measured. */
export interface Check {
  readonly name: string;
  readonly target: string;
  readonly value: string;
  readonly pass: boolean | null;
  /** The seed's original targets, our own stricter ones (issue 8), or a check of the bench itself. */
  readonly source: 'seed' | 'ours' | 'harness';
  /** The issue a target of ours comes from, when not issue 8 (shown as "ours (issue 13)"). */
  readonly issue?: number;
  /**
   * What Outrider does rather than how fast (it answered, mirrored, opened, drained, held on):
   * asserted in --smoke too, where timings are not. Anything but a pass fails a smoke run, so
   * "not measured" cannot stand in for Outrider failing.
   */
  readonly functional?: boolean;
}

export interface ScenarioResult {
  readonly name: string;
  readonly title: string;
  readonly status: 'ok' | 'skipped' | 'failed';
  readonly reason?: string;
  /**
   * Why a skipped scenario did not run: Outrider could not (not built, did not start, rejected
   * the policy, a layer missing from /status), which fails --smoke; or a peer tool is not
   * installed (wrk, nginx), which never fails anything.
   */
  readonly skipCause?: SkipCause;
  readonly tables: readonly Table[];
  readonly charts: readonly Chart[];
  readonly checks: readonly Check[];
  /** Everything measured, for results.json. */
  readonly data: unknown;
  readonly seconds: number;
}

/** What a scenario's run returns; the runner adds its name, title and duration. */
export type ScenarioOutcome = Omit<ScenarioResult, 'name' | 'title' | 'seconds'>;

export interface Scenario {
  readonly name: string;
  readonly title: string;
  run(ctx: ScenarioContext): Promise<ScenarioOutcome>;
}

export type SkipCause = 'outrider' | 'peer';

/** A scenario that did not run; blamed on Outrider unless a peer is said to be missing. */
export function skipped(reason: string, cause: SkipCause = 'outrider'): ScenarioOutcome {
  return { status: 'skipped', reason, skipCause: cause, tables: [], charts: [], checks: [], data: {} };
}
