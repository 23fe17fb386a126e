/**
 * Diffing a shadow's answer against the primary's (`shadow.compare`): status, headers and body,
 * structurally when both bodies are JSON (a list of differing paths such as
 * `body.items[0].price`), byte for byte otherwise. Paths in `ignore` (and anything under them)
 * are skipped; a `*` segment matches any key or index (`body.items[*].ts`).
 */

export interface CapturedAnswer {
  readonly status: number;
  /** Flat [name, value, …] list. */
  readonly headers: readonly string[];
  /** The body, or undefined when it was too large to keep. */
  readonly body: Buffer | undefined;
}

export type DiffKind = 'status' | 'header' | 'body';

export interface Difference {
  readonly kind: DiffKind;
  readonly path: string;
  readonly primary: unknown;
  readonly shadow: unknown;
}

/** Headers that describe the connection or this sidecar's own bookkeeping, never compared. */
const NOT_COMPARED = new Set(['connection', 'keep-alive', 'transfer-encoding', 'content-length', 'x-outrider-attempts', 'x-outrider-hedged']);

/** At most this many differences are listed per comparison (the rest are counted, not listed). */
const MAX_LISTED = 20;

export class IgnoreList {
  readonly #patterns: readonly string[][];

  constructor(paths: readonly string[]) {
    this.#patterns = paths.map(splitPath);
  }

  ignores(path: string): boolean {
    const segments = splitPath(path);
    return this.#patterns.some((pattern) => pattern.length <= segments.length && pattern.every((p, i) => p === '*' || p === segments[i]));
  }
}

/** `body.items[0].price` → ['body', 'items', '0', 'price']; header names compare lower-cased. */
function splitPath(path: string): string[] {
  const segments = path
    .replace(/\[(\d+|\*)\]/g, '.$1')
    .split('.')
    .filter((s) => s !== '');
  if (segments[0] === 'headers' && segments[1] !== undefined) segments[1] = segments[1].toLowerCase();
  return segments;
}

export function compareAnswers(primary: CapturedAnswer, shadow: CapturedAnswer, ignore: IgnoreList): Difference[] {
  const diffs: Difference[] = [];
  if (primary.status !== shadow.status && !ignore.ignores('status')) {
    diffs.push({ kind: 'status', path: 'status', primary: primary.status, shadow: shadow.status });
  }
  compareHeaders(primary.headers, shadow.headers, ignore, diffs);
  compareBodies(primary.body, shadow.body, ignore, diffs);
  return diffs;
}

function headerMap(headers: readonly string[]): Map<string, string> {
  const map = new Map<string, string>();
  for (let i = 0; i < headers.length; i += 2) {
    const name = (headers[i] as string).toLowerCase();
    if (NOT_COMPARED.has(name)) continue;
    const value = headers[i + 1] as string;
    map.set(name, map.has(name) ? `${map.get(name) as string}, ${value}` : value);
  }
  return map;
}

function compareHeaders(primary: readonly string[], shadow: readonly string[], ignore: IgnoreList, diffs: Difference[]): void {
  const a = headerMap(primary);
  const b = headerMap(shadow);
  for (const name of new Set([...a.keys(), ...b.keys()])) {
    const path = `headers.${name}`;
    if (a.get(name) !== b.get(name) && !ignore.ignores(path)) {
      diffs.push({ kind: 'header', path, primary: a.get(name) ?? null, shadow: b.get(name) ?? null });
    }
  }
}

function compareBodies(primary: Buffer | undefined, shadow: Buffer | undefined, ignore: IgnoreList, diffs: Difference[]): void {
  if (primary === undefined || shadow === undefined || ignore.ignores('body')) return;
  const a = parseJson(primary);
  const b = parseJson(shadow);
  if (a.ok && b.ok) {
    diffJson(a.value, b.value, 'body', ignore, diffs);
    return;
  }
  if (!primary.equals(shadow)) {
    diffs.push({ kind: 'body', path: 'body', primary: `${primary.length} bytes`, shadow: `${shadow.length} bytes` });
  }
}

function parseJson(bytes: Buffer): { ok: true; value: unknown } | { ok: false } {
  if (bytes.length === 0) return { ok: false };
  try {
    return { ok: true, value: JSON.parse(bytes.toString('utf8')) as unknown };
  } catch {
    return { ok: false };
  }
}

function diffJson(a: unknown, b: unknown, path: string, ignore: IgnoreList, diffs: Difference[]): void {
  if (diffs.length >= MAX_LISTED || ignore.ignores(path)) return;
  if (isObject(a) && isObject(b)) {
    for (const key of new Set([...Object.keys(a), ...Object.keys(b)])) diffJson(a[key], b[key], `${path}.${key}`, ignore, diffs);
    return;
  }
  if (Array.isArray(a) && Array.isArray(b)) {
    for (let i = 0; i < Math.max(a.length, b.length); i++) diffJson(a[i], b[i], `${path}[${i}]`, ignore, diffs);
    return;
  }
  if (!Object.is(a, b)) diffs.push({ kind: 'body', path, primary: a ?? null, shadow: b ?? null });
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Learned noise is bounded: a route whose answers differ everywhere should not grow memory. */
const MAX_NOISE_PATHS = 256;

/**
 * Diffy's noise filter: paths that differ between two answers of the *primary* to the same
 * request (timestamps, ids, random order) are noise, and differences there between primary
 * and shadow say nothing about the shadow. Array indices are generalized (`items[3].ts` →
 * `items[*].ts`), so noise learned on one element covers the others.
 */
export class NoiseFilter {
  readonly #paths = new Set<string>();

  learn(diffs: readonly Difference[]): void {
    for (const diff of diffs) if (this.#paths.size < MAX_NOISE_PATHS) this.#paths.add(generalize(diff.path));
  }

  isNoise(diff: Difference): boolean {
    return this.#paths.size > 0 && this.#paths.has(generalize(diff.path));
  }

  paths(): string[] {
    return [...this.#paths];
  }
}

function generalize(path: string): string {
  return path.replace(/\[\d+\]/g, '[*]');
}
