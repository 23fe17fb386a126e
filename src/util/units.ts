/**
 * Units of the policy file: durations (`250ms`, `2s`, `1.5s`, `1m`, `1h`) and sizes (`512B`,
 * `64KiB`, `1MiB`, `1GiB`). The patterns are exported as strings because the JSON Schema
 * (`schema/policy.schema.json`) embeds them: the editor, the loader and these parsers must agree
 * on one grammar, so it is written once, here.
 */

/** A number (decimals allowed) followed by `ms`, `s`, `m` or `h`. `0s` is allowed. */
export const DURATION_PATTERN = '^[0-9]+(\\.[0-9]+)?(ms|s|m|h)$';

/** A duration greater than zero: the lookahead demands a non-zero digit before the unit. */
export const POSITIVE_DURATION_PATTERN = '^(?=[0-9.]*[1-9])[0-9]+(\\.[0-9]+)?(ms|s|m|h)$';

/** A number (decimals allowed) followed by `B`, `KiB`, `MiB` or `GiB` (binary units only). */
export const SIZE_PATTERN = '^[0-9]+(\\.[0-9]+)?(B|KiB|MiB|GiB)$';

/** `p50`, `p95`, `p99`, `p99.9`: a latency percentile, strictly between 0 and 100. */
export const PERCENTILE_PATTERN = '^p[1-9][0-9]?(\\.[0-9]+)?$';

const MS_PER_UNIT: Readonly<Record<string, number>> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 };
const BYTES_PER_UNIT: Readonly<Record<string, number>> = { B: 1, KiB: 1024, MiB: 1024 ** 2, GiB: 1024 ** 3 };

const DURATION_PARTS = /^([0-9]+(?:\.[0-9]+)?)(ms|s|m|h)$/;
const SIZE_PARTS = /^([0-9]+(?:\.[0-9]+)?)(B|KiB|MiB|GiB)$/;
const PERCENTILE_RE = new RegExp(PERCENTILE_PATTERN);

export function isDuration(text: string): boolean {
  return DURATION_PARTS.test(text);
}

export function isSize(text: string): boolean {
  return SIZE_PARTS.test(text);
}

/**
 * `1.5s` → 1500. Fractions of a millisecond are kept (`0.5ms` → 0.5): timers round them anyway,
 * and rounding here would turn a tiny positive duration into 0, which means "off" for deadlines.
 */
export function parseDurationMs(text: string): number {
  const parts = DURATION_PARTS.exec(text);
  if (parts === null) throw new RangeError(`not a duration: ${JSON.stringify(text)} (expected e.g. 250ms, 2s or 1m)`);
  return scale(parts, MS_PER_UNIT);
}

/** `64KiB` → 65536. Rounded to whole bytes, since `1.5KiB`-style fractions are allowed. */
export function parseSizeBytes(text: string): number {
  const parts = SIZE_PARTS.exec(text);
  if (parts === null) throw new RangeError(`not a size: ${JSON.stringify(text)} (expected e.g. 512B, 64KiB or 1MiB)`);
  return Math.round(scale(parts, BYTES_PER_UNIT));
}

/** `p99.9` → 99.9; anything else → undefined (so callers can try a duration next). */
export function parsePercentile(text: string): number | undefined {
  return PERCENTILE_RE.test(text) ? Number(text.slice(1)) : undefined;
}

function scale(parts: RegExpExecArray, perUnit: Readonly<Record<string, number>>): number {
  const [, amount = '', unit = ''] = parts;
  const factor = perUnit[unit];
  if (factor === undefined) throw new RangeError(`unknown unit ${JSON.stringify(unit)}`);
  // Multiply in integer space where possible so `1.1s` is 1100, not 1100.0000000000002.
  return Math.round(Number(amount) * factor * 1e6) / 1e6;
}
