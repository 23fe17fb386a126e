/**
 * How long and how often to measure. `quick` (the default) runs every scenario in about two
 * minutes on two cores; `full` is what bench/RESULTS.md is made of; `smoke` only proves the
 * harness works (CI) and asserts nothing about timings.
 */
export type ProfileName = 'smoke' | 'quick' | 'full';

export interface Profile {
  readonly name: ProfileName;
  /** Measured window of one load run. */
  readonly durationMs: number;
  /** Discarded start of each load run (connections and caches settle). */
  readonly warmupMs: number;
  /** Closed-loop load on each proxy process before its first measurement (JIT warm-up). */
  readonly processWarmupMs: number;
  /** Interleaved passes over the configurations; figures are medians over passes. */
  readonly passes: number;
  /** Fixed rates of the overhead scenario (a max-throughput run is always added). */
  readonly rates: readonly number[];
  /** Measured window of a pattern scenario's run (hedge, bulkhead, shadow, scatter): p99 needs samples. */
  readonly patternDurationMs: number;
  /** Scale for pattern scenarios' phase lengths (breaker windows and the like). */
  readonly scale: number;
}

export const PROFILES: Readonly<Record<ProfileName, Profile>> = {
  smoke: { name: 'smoke', durationMs: 600, warmupMs: 100, processWarmupMs: 200, passes: 1, rates: [1000], patternDurationMs: 600, scale: 0.5 },
  quick: { name: 'quick', durationMs: 1500, warmupMs: 250, processWarmupMs: 1000, passes: 1, rates: [1000, 5000], patternDurationMs: 2000, scale: 1 },
  full: { name: 'full', durationMs: 10_000, warmupMs: 1000, processWarmupMs: 5000, passes: 3, rates: [500, 1000, 2000, 5000], patternDurationMs: 15_000, scale: 2 },
};

/** Client connections of the generator (the baseline in design/performance.md used 50). */
export const CONNECTIONS = 50;
