/**
 * HdrHistogram helpers. Values are recorded in microseconds (integers) so sub-millisecond
 * differences survive; summaries are reported in milliseconds.
 */
import hdr from 'hdr-histogram-js';
import type { LatencySummary } from './protocol.js';

export type Histogram = ReturnType<typeof hdr.build>;

/** One hour in µs: anything slower is clamped (the job's timeout is far below it). */
const HIGHEST_US = 3_600_000_000;

export function newHistogram(): Histogram {
  return hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: HIGHEST_US, numberOfSignificantValueDigits: 3, autoResize: false });
}

export function recordMs(histogram: Histogram, ms: number): void {
  const us = Math.round(ms * 1000);
  histogram.recordValue(us < 1 ? 1 : us > HIGHEST_US ? HIGHEST_US : us);
}

const round3 = (x: number): number => Math.round(x * 1000) / 1000;

export function summarize(histogram: Histogram): LatencySummary {
  const at = (p: number): number => (histogram.totalCount === 0 ? 0 : round3(histogram.getValueAtPercentile(p) / 1000));
  return {
    count: histogram.totalCount,
    p50: at(50),
    p90: at(90),
    p99: at(99),
    p999: at(99.9),
    max: histogram.totalCount === 0 ? 0 : round3(histogram.maxValue / 1000),
    mean: histogram.totalCount === 0 ? 0 : round3(histogram.mean / 1000),
  };
}

export function encode(histogram: Histogram): string {
  return hdr.encodeIntoCompressedBase64(histogram);
}

export function decode(base64: string): Histogram {
  return hdr.decodeFromCompressedBase64(base64);
}

/** Quantiles for the report's percentile spectrum (HdrHistogram's plot: x = 1/(1-q), log scale). */
export const SPECTRUM_QUANTILES = [0, 0.5, 0.75, 0.9, 0.95, 0.99, 0.995, 0.999, 0.9995, 0.9999, 0.99999] as const;

export interface SpectrumPoint {
  /** Quantile 0-1. */
  readonly q: number;
  readonly ms: number;
}

/** Points of the spectrum that the histogram holds enough samples to support, plus the max. */
export function spectrum(base64: string): SpectrumPoint[] {
  if (base64 === '') return [];
  const histogram = decode(base64);
  const n = histogram.totalCount;
  if (n === 0) return [];
  const points: SpectrumPoint[] = [];
  for (const q of SPECTRUM_QUANTILES) {
    // A quantile needs about 1/(1-q) samples before it means anything.
    if (q > 0 && 1 / (1 - q) > n) break;
    points.push({ q, ms: round3(histogram.getValueAtPercentile(q * 100) / 1000) });
  }
  points.push({ q: 1 - 1 / n, ms: round3(histogram.maxValue / 1000) });
  return points;
}

/** Several encoded histograms (passes of one target) merged into one, encoded; '' for none. */
export function mergeEncoded(encoded: readonly string[]): string {
  let merged: Histogram | undefined;
  for (const base64 of encoded) {
    const h = decode(base64);
    if (merged) merged.add(h);
    else merged = h;
  }
  return merged ? encode(merged) : '';
}
