/**
 * A route's recent latency, for adaptive hedge delays (`delay: p95`). Two HdrHistograms take
 * turns: samples go into the current one, which becomes the previous one every `periodMs`, so
 * percentiles cover the last one to two periods and follow the upstream when it changes.
 * Percentiles are recomputed at most every REFRESH_MS (merging histograms per request would
 * cost more than the hedge saves).
 */
import { createRequire } from 'node:module';
import type { Histogram } from 'hdr-histogram-js';
import { systemClock, type Clock } from '../../util/clock.js';

/**
 * The one class `build({ bitBucketSize: 32 })` picks, required alone: the package's index also
 * loads its WebAssembly build (pako, a base64 module) and its log writer, whose module-level
 * Intl.NumberFormat maps 4.6 MiB of ICU data; 5-7 MiB of RSS at every start, hedge or not.
 */
const Int32Histogram = (
  createRequire(import.meta.url)('hdr-histogram-js/dist/Int32Histogram.js') as {
    default: new (lowestDiscernibleValue: number, highestTrackableValue: number, numberOfSignificantValueDigits: number) => Histogram;
  }
).default;

const REFRESH_MS = 250;
/** Below this many samples a percentile says little; the hedge waits for data. */
export const MIN_SAMPLES = 20;

function newHistogram(): Histogram {
  // Microseconds, 1 µs to 10 min, 2 significant digits; the plain JS implementation needs no async init.
  const histogram = new Int32Histogram(1, 600_000_000, 2);
  histogram.autoResize = true; // what build() sets
  return histogram;
}

export class LatencyWindow {
  readonly #periodMs: number;
  readonly #clock: Pick<Clock, 'now'>;
  #current = newHistogram();
  #previous = newHistogram();
  #rotatedAt: number;
  #cache = new Map<number, number>();
  #cachedAt = -Infinity;

  constructor(periodMs = 10_000, clock: Pick<Clock, 'now'> = systemClock) {
    this.#periodMs = periodMs;
    this.#clock = clock;
    this.#rotatedAt = clock.now();
  }

  record(ms: number): void {
    this.#rotate();
    this.#current.recordValue(Math.max(1, Math.round(ms * 1000)));
  }

  /** The `percentile` (0-100) in ms over the window, or undefined with too few samples. */
  percentile(percentile: number): number | undefined {
    this.#rotate();
    const now = this.#clock.now();
    if (now - this.#cachedAt > REFRESH_MS) {
      this.#cache.clear();
      this.#cachedAt = now;
    }
    const cached = this.#cache.get(percentile);
    if (cached !== undefined) return cached;
    // Too few samples is cheap to find out and must not be cached: warm-up ends at once.
    const computed = this.#compute(percentile);
    if (computed !== undefined) this.#cache.set(percentile, computed);
    return computed;
  }

  samples(): number {
    return this.#current.totalCount + this.#previous.totalCount;
  }

  #compute(percentile: number): number | undefined {
    if (this.samples() < MIN_SAMPLES) return undefined;
    const merged = newHistogram();
    merged.add(this.#previous);
    merged.add(this.#current);
    return merged.getValueAtPercentile(percentile) / 1000;
  }

  #rotate(): void {
    const now = this.#clock.now();
    if (now - this.#rotatedAt < this.#periodMs) return;
    // More than two periods of silence: the old data is no longer "recent" at all.
    this.#previous = now - this.#rotatedAt >= 2 * this.#periodMs ? newHistogram() : this.#current;
    this.#current = newHistogram();
    this.#rotatedAt = now;
    this.#cachedAt = -Infinity;
  }
}
