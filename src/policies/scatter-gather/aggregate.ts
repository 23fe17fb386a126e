/**
 * How scatter-gather turns the targets' answers into one JSON answer. Each answer is checked
 * as it arrives (`accept`), so an answer the aggregation cannot use (non-JSON for `merge` or
 * `concat`, no array at the concat field) counts as that target's failure toward `require`;
 * once the outcome is decided, `combine` joins the accepted values in target order (not in
 * arrival order, so the answer does not depend on which upstream was faster).
 *
 * - group: `{ "<name>": body }`; JSON bodies parsed, others kept as strings, an empty body null.
 * - merge: deep merge of JSON objects; later targets win on conflicts; arrays are replaced.
 * - concat: the arrays at `field` (a dot path) joined, sorted by `sortBy` (a dot path; numbers
 *   numerically, strings by code unit, numbers before strings, items without a number or string
 *   there last in either order; ties keep target order), cut at `limit`, and answered at the
 *   same path: `field: data.hits` answers `{ "data": { "hits": [...] } }`.
 */
import type { ScatterGatherPolicy } from '../../config/types.js';

export type Json = null | boolean | number | string | readonly Json[] | JsonObject;
export interface JsonObject {
  readonly [key: string]: Json;
}

/** One target's accepted answer, under its call name (`name`, or `name[i]` with allEndpoints). */
export interface AcceptedPart {
  readonly name: string;
  readonly value: Json;
}

export type Acceptance = { readonly ok: true; readonly value: Json } | { readonly ok: false; readonly message: string };

export interface Aggregator {
  /** Check one answer; `ok: false` says why it cannot be used (the target then fails). */
  accept(body: Buffer, contentType: string | undefined): Acceptance;
  /** Join the accepted answers, listed in target order. */
  combine(parts: readonly AcceptedPart[]): Record<string, Json>;
}

export function aggregatorFor(policy: ScatterGatherPolicy): Aggregator {
  switch (policy.aggregate) {
    case 'group':
      return GROUP;
    case 'merge':
      return MERGE;
    case 'concat': {
      // The loader requires a concat block with aggregate: concat.
      if (policy.concat === undefined) throw new Error('aggregate: concat without a concat block');
      return concatAggregator(policy.concat);
    }
  }
}

// --- reading bodies --------------------------------------------------------------------------

export type BodyValue = { readonly json: true; readonly value: Json } | { readonly json: false; readonly text: string };

/**
 * A body as JSON when it is JSON: parsed when the content type says JSON (`application/json`,
 * `…+json`) or says nothing, and it parses; text otherwise. A `text/plain` body of `42` stays
 * the string "42": the upstream said it is text.
 */
export function readBodyValue(body: Buffer, contentType: string | undefined): BodyValue {
  const text = body.toString('utf8');
  if (contentType !== undefined && !isJsonType(contentType)) return { json: false, text };
  try {
    return { json: true, value: JSON.parse(text) as Json };
  } catch {
    return { json: false, text };
  }
}

function isJsonType(contentType: string): boolean {
  const type = (contentType.split(';')[0] as string).trim().toLowerCase();
  return type === 'application/json' || type.endsWith('+json');
}

// --- group -----------------------------------------------------------------------------------

const GROUP: Aggregator = {
  accept(body, contentType) {
    if (body.length === 0) return { ok: true, value: null };
    const read = readBodyValue(body, contentType);
    return { ok: true, value: read.json ? read.value : read.text };
  },
  combine(parts) {
    const out: Record<string, Json> = {};
    for (const part of parts) setOwn(out, part.name, part.value);
    return out;
  },
};

// --- merge -----------------------------------------------------------------------------------

const MERGE: Aggregator = {
  accept(body, contentType) {
    const read = readBodyValue(body, contentType);
    if (!read.json) return { ok: false, message: `merge needs a JSON object; the body is not JSON (${describeText(read.text)})` };
    if (!isObject(read.value)) return { ok: false, message: `merge needs a JSON object; the body is ${kindOf(read.value)}` };
    return { ok: true, value: read.value };
  },
  combine(parts) {
    let out: Record<string, Json> = {};
    for (const part of parts) out = deepMerge(out, part.value as JsonObject);
    return out;
  },
};

/** `over` merged onto `base`, as a new object: objects merge key by key, anything else replaces. */
export function deepMerge(base: JsonObject, over: JsonObject): Record<string, Json> {
  const out: Record<string, Json> = {};
  for (const key of Object.keys(base)) setOwn(out, key, base[key] as Json);
  for (const key of Object.keys(over)) {
    const before = out[key];
    const after = over[key] as Json;
    setOwn(out, key, Object.hasOwn(out, key) && isObject(before) && isObject(after) ? deepMerge(before, after) : after);
  }
  return out;
}

// --- concat ----------------------------------------------------------------------------------

type ConcatSettings = NonNullable<ScatterGatherPolicy['concat']>;

function concatAggregator(settings: ConcatSettings): Aggregator {
  const fieldPath = settings.field.split('.');
  const sortPath = settings.sortBy?.split('.');
  return {
    accept(body, contentType) {
      const read = readBodyValue(body, contentType);
      if (!read.json) return { ok: false, message: `concat needs JSON with an array at ${settings.field}; the body is not JSON (${describeText(read.text)})` };
      const items = valueAt(read.value, fieldPath);
      if (!Array.isArray(items)) return { ok: false, message: `concat needs an array at ${settings.field}; found ${kindOf(items)}` };
      return { ok: true, value: items as readonly Json[] };
    },
    combine(parts) {
      let items = parts.flatMap((part) => part.value as readonly Json[]);
      if (sortPath !== undefined) items = sortedBy(items, sortPath, settings.order);
      if (settings.limit !== undefined) items = items.slice(0, settings.limit);
      return nestAt(fieldPath, items);
    },
  };
}

interface SortKey {
  /** 0 numbers, 1 strings, 2 anything else (always last). */
  readonly rank: number;
  readonly key: number | string;
}

export function sortedBy(items: readonly Json[], path: readonly string[], order: 'asc' | 'desc'): Json[] {
  const direction = order === 'asc' ? 1 : -1;
  const keyed = items.map((item) => ({ item, sort: sortKeyOf(valueAt(item, path)) }));
  // Array.prototype.sort is stable, so equal keys keep target order.
  keyed.sort((a, b) => {
    if (a.sort.rank !== b.sort.rank) return a.sort.rank - b.sort.rank;
    if (a.sort.rank === 2 || a.sort.key === b.sort.key) return 0;
    return a.sort.key < b.sort.key ? -direction : direction;
  });
  return keyed.map(({ item }) => item);
}

function sortKeyOf(value: Json | undefined): SortKey {
  if (typeof value === 'number' && !Number.isNaN(value)) return { rank: 0, key: value };
  if (typeof value === 'string') return { rank: 1, key: value };
  return { rank: 2, key: 0 };
}

/** The value at a dot path, or undefined where the path leads nowhere. */
export function valueAt(value: Json | undefined, path: readonly string[]): Json | undefined {
  let current = value;
  for (const key of path) {
    if (!isObject(current) || !Object.hasOwn(current, key)) return undefined;
    current = current[key];
  }
  return current;
}

function nestAt(path: readonly string[], value: Json): Record<string, Json> {
  let out: Json = value;
  for (let i = path.length - 1; i >= 0; i--) {
    const level: Record<string, Json> = {};
    setOwn(level, path[i] as string, out);
    out = level;
  }
  return out as Record<string, Json>;
}

// --- helpers ---------------------------------------------------------------------------------

function isObject(value: Json | undefined): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Assign an own property even for a key like `__proto__`, which JSON.parse allows as data. */
function setOwn(target: Record<string, Json>, key: string, value: Json): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}

function kindOf(value: Json | undefined): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`;
}

function describeText(text: string): string {
  if (text.length === 0) return 'empty';
  return JSON.stringify(text.length > 40 ? `${text.slice(0, 40)}…` : text);
}
