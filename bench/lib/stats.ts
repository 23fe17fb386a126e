/** Small numeric helpers for aggregating passes: medians of values and of paired ratios. */

export function median(values: readonly number[]): number {
  const sorted = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  if (sorted.length === 0) return NaN;
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

export function round(value: number, digits = 2): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

/** Formats a number for tables: "—" when missing, fewer decimals for larger numbers. */
export function fmt(value: number | undefined, digits?: number): string {
  if (value === undefined || !Number.isFinite(value)) return '—';
  const d = digits ?? (Math.abs(value) >= 100 ? 0 : Math.abs(value) >= 10 ? 1 : 2);
  const text = value.toFixed(d);
  return /^-0\.?0*$/.test(text) ? text.slice(1) : text; // no "-0.0"
}

export function signed(value: number | undefined, digits?: number): string {
  const s = fmt(value, digits);
  return value !== undefined && Number.isFinite(value) && value >= 0 ? `+${s}` : s;
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
