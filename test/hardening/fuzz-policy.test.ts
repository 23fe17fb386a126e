/**
 * Property-based tests of the policy parser (fast-check): whatever text it is given, arbitrary
 * strings, YAML of arbitrary values, or a real policy mutated at random in structure and in
 * text, `loadPolicyText` either loads it or returns issues located at line ≥ 1, column ≥ 1,
 * never throws, and never reports a bug of its own (an exception caught and turned into an
 * issue) as if it were a finding about the text. Each property must actually run at least
 * MIN_RUNS times: a time limit that cuts it short on a slow machine fails the test rather than
 * passing it untested.
 */
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import t, { type Test } from 'tap';
import { parse, stringify } from 'yaml';
import { loadPolicyText } from '../../src/config/load.js';
import type { LoadResult } from '../../src/config/types.js';

const FILE = 'fuzz.yaml';
const VALID = readFileSync(new URL('../../config/outrider.yaml', import.meta.url), 'utf8');
/** A fixed seed in CI (reproducible); FUZZ_SEED=random or a number to explore further. */
const FUZZ_SEED = process.env.FUZZ_SEED === 'random' ? {} : { seed: Number(process.env.FUZZ_SEED ?? 20261127) };
/** The time limit is a bound on a stuck run, not a goal: reaching it before MIN_RUNS fails. */
const PARAMS = { numRuns: 300, interruptAfterTimeLimit: 30_000, markInterruptAsFailure: false, ...FUZZ_SEED } as const;
const MIN_RUNS = 200;

/**
 * What a JavaScript exception says, as opposed to a finding about the text: load.ts turns an
 * exception in the normalizer into an issue ("internal error while normalizing…"), and a caught
 * TypeError would read "Cannot read properties of undefined…". Either is a bug, not a located issue.
 */
const INTERNAL_ERROR =
  /internal error|\b(?:TypeError|RangeError|ReferenceError)\b|Cannot (?:read|set) propert|is not a function|is not iterable|is not defined|(?:undefined|null) is not|Cannot convert|Maximum call stack/i;

/** The property: loads, or every issue is located inside the text and none is an internal error; never throws. */
function loadsOrLocates(text: string, tolerated?: RegExp): boolean {
  return judged(text, loadPolicyText(text, FILE), tolerated);
}

/** The property's verdict on what `loadPolicyText` returned for `text` (throws to fail it). */
function judged(text: string, result: LoadResult, tolerated?: RegExp): boolean {
  if (result.ok) return true;
  if (result.issues.length === 0) throw new Error('rejected without an issue');
  const lines = text.split(/\r\n|\r|\n/).length;
  for (const issue of result.issues) {
    if (issue.file !== FILE) throw new Error(`issue names ${issue.file}`);
    if (!Number.isInteger(issue.line) || issue.line < 1 || issue.line > lines + 1) throw new Error(`bad line ${issue.line} (${lines} lines): ${issue.message}`);
    if (!Number.isInteger(issue.column) || issue.column < 1) throw new Error(`bad column ${issue.column}: ${issue.message}`);
    if (typeof issue.message !== 'string' || issue.message === '') throw new Error('empty message');
    if (INTERNAL_ERROR.test(issue.message) && !(tolerated?.test(issue.message) ?? false)) throw new Error(`an internal error reported as an issue: ${issue.message}`);
  }
  return true;
}

/** Check `property`: it holds, and it really ran at least MIN_RUNS times (not cut short by the time limit). */
function holds<Ts>(t: Test, name: string, property: fc.IProperty<Ts>): void {
  const details = fc.check(property, PARAMS);
  t.notOk(details.failed, details.failed ? `${name}: ${fc.defaultReportMessage(details) ?? 'failed'}` : `${name}: holds`);
  t.ok(details.numRuns >= MIN_RUNS, `${name}: ${details.numRuns} runs executed${details.interrupted ? ' (interrupted by the time limit)' : ''}, at least ${MIN_RUNS} required`);
}

t.test('the documented policy loads (the mutations start from a valid file)', async (t) => {
  t.ok(loadPolicyText(VALID, FILE).ok);
});

t.test('the property itself: an internal error reported as an issue fails it, a finding does not', async (t) => {
  const rejected = (message: string): LoadResult => ({ ok: false, issues: [{ file: FILE, line: 1, column: 1, message }] });
  t.throws(() => judged('version: 1', rejected('internal error while normalizing the policy: boom')), /an internal error reported as an issue/);
  t.throws(() => judged('version: 1', rejected("routes[0]: Cannot read properties of undefined (reading 'x')")), /an internal error reported as an issue/);
  t.throws(() => judged('version: 1', rejected('TypeError: x.map is not a function')), /an internal error reported as an issue/);
  t.throws(() => judged('version: 1', { ok: false, issues: [] }), /rejected without an issue/);
  t.throws(() => judged('version: 1', { ok: false, issues: [{ file: FILE, line: 3, column: 1, message: 'x' }] }), /bad line 3/);
  t.ok(judged('version: 1', rejected('routes[0].retry.attempts: must be an integer')), 'a finding about the text passes');
});

t.test('any string', async (t) => {
  holds(t, 'binary strings', fc.property(fc.string({ unit: 'binary', maxLength: 400 }), (text) => loadsOrLocates(text)));
  holds(
    t,
    'strings of YAML and policy tokens',
    fc.property(fc.string({ unit: fc.constantFrom(...'version: 1\n-[]{},&*<>!|#"\'\t :routes listeners'.split('')), maxLength: 300 }), (text) => loadsOrLocates(text)),
  );
});

t.test('YAML of any value', async (t) => {
  holds(
    t,
    'YAML of a JSON value',
    fc.property(fc.jsonValue({ maxDepth: 5 }), (value) => loadsOrLocates(stringify(value))),
  );
  holds(
    t,
    'YAML of a policy-shaped document',
    fc.property(fc.dictionary(fc.constantFrom('version', 'admin', 'listeners', 'upstreams', 'routes', 'defaults', 'drainTimeout', 'replayBodyLimit', 'accessLog', 'extra'), fc.jsonValue({ maxDepth: 4 })), (doc) =>
      loadsOrLocates(stringify({ version: 1, ...doc })),
    ),
  );
});

/** A path into a JSON-like tree, and tools to change what is there. */
type Tree = unknown;

function paths(value: Tree, prefix: (string | number)[] = []): (string | number)[][] {
  const out: (string | number)[][] = [prefix];
  if (Array.isArray(value)) value.forEach((v, i) => out.push(...paths(v, [...prefix, i])));
  else if (typeof value === 'object' && value !== null) for (const [k, v] of Object.entries(value)) out.push(...paths(v, [...prefix, k]));
  return out;
}

function mutate(tree: Tree, path: (string | number)[], action: 'delete' | 'replace' | 'rename', replacement: unknown, newKey: string): Tree {
  if (path.length === 0) return action === 'replace' ? replacement : tree;
  const [head, ...rest] = path as [string | number, ...(string | number)[]];
  if (Array.isArray(tree)) {
    const copy = [...tree];
    if (rest.length === 0 && action === 'delete') copy.splice(head as number, 1);
    else copy[head as number] = rest.length === 0 ? replacement : mutate(copy[head as number], rest, action, replacement, newKey);
    return copy;
  }
  if (typeof tree === 'object' && tree !== null) {
    const copy: Record<string, unknown> = { ...(tree as Record<string, unknown>) };
    if (rest.length > 0) copy[head as string] = mutate(copy[head as string], rest, action, replacement, newKey);
    else if (action === 'delete') delete copy[head as string];
    else if (action === 'rename') {
      copy[newKey] = copy[head as string];
      delete copy[head as string];
    } else copy[head as string] = replacement;
    return copy;
  }
  return tree;
}

const weirdScalar = fc.oneof(
  fc.jsonValue({ maxDepth: 2 }),
  fc.constantFrom('0s', '-1s', '1e309ms', '10x', 'p100', 'p95', '1MiB', '99999999999GiB', '', ' ', '127.0.0.1:99999', '::1:80', '[::1]:0', 'http://', 'https://a:1', 'http://a:0', '^(', '.*', '*', '<<', '~', 'NaN', 'Infinity'),
  fc.integer({ min: -2, max: 70_000 }),
  fc.double(),
);

t.test('a real policy mutated in structure', async (t) => {
  const base = parse(VALID) as Tree;
  const all = paths(base);
  holds(
    t,
    'structural mutations',
    fc.property(
      fc.array(fc.record({ at: fc.nat({ max: all.length - 1 }), action: fc.constantFrom('delete', 'replace', 'rename'), value: weirdScalar, key: fc.constantFrom('timeout', 'retrys', 'upstream', 'match', 'x', 'endpoints', '<<') }), {
        minLength: 1,
        maxLength: 4,
      }),
      (edits) => {
        let tree = base;
        for (const edit of edits) tree = mutate(tree, all[edit.at] as (string | number)[], edit.action as 'delete' | 'replace' | 'rename', edit.value, edit.key);
        return loadsOrLocates(stringify(tree));
      },
    ),
  );
});

t.test('a real policy mutated as text', async (t) => {
  const tokens = ['\n', '\t', ' ', ':', '- ', '&a ', '*a', '<<: *a\n', '{', '}', '[', ']', '"', "'", '#', '|', '>', '!!binary ', '? ', '%YAML 1.2\n', '---\n', '...\n', '\u0000', '\uFEFF', 'version: 2\n', 'routes: []\n'];
  holds(
    t,
    'text mutations',
    fc.property(
      fc.array(
        fc.record({ at: fc.nat({ max: VALID.length }), kind: fc.constantFrom('insert', 'delete', 'duplicate'), token: fc.constantFrom(...tokens), length: fc.nat({ max: 40 }) }),
        { minLength: 1, maxLength: 5 },
      ),
      (edits) => {
        let text = VALID;
        for (const edit of edits) {
          const at = Math.min(edit.at, text.length);
          if (edit.kind === 'insert') text = text.slice(0, at) + edit.token + text.slice(at);
          else if (edit.kind === 'delete') text = text.slice(0, at) + text.slice(at + edit.length);
          else text = text.slice(0, at + edit.length) + text.slice(at, at + edit.length) + text.slice(at + edit.length);
        }
        return loadsOrLocates(text);
      },
    ),
  );
});

t.test('alias bombs and deep nesting are refused, not expanded forever', async (t) => {
  const bomb = ['version: 1', 'a: &a ["x","x","x","x","x","x","x","x","x","x"]'];
  for (let i = 0; i < 12; i++) bomb.push(`${String.fromCharCode(98 + i)}: &${String.fromCharCode(98 + i)} [${Array(10).fill(`*${String.fromCharCode(97 + i)}`).join(',')}]`);
  const laughs = loadPolicyText(bomb.join('\n'), FILE);
  t.ok(loadsOrLocates(bomb.join('\n')), 'a billion-laughs document is judged');
  t.notOk(laughs.ok, 'and refused');
  t.match(laughs.ok ? '' : laughs.issues.map((i) => i.message).join('\n'), /cannot expand the YAML aliases: Excessive alias count/, 'by the alias count, not by expanding it');
  const deep = `version: 1\nroutes: ${'['.repeat(5000)}${']'.repeat(5000)}\n`;
  // The yaml parser's own guard against deep nesting reports its stack overflow as a syntax
  // error at the bracket: a refusal of the text, tolerated here and nowhere else.
  t.ok(loadsOrLocates(deep, /^invalid YAML: Maximum call stack size exceeded$/), 'five thousand nested brackets are judged');
  t.notOk(loadPolicyText(deep, FILE).ok, 'and refused');
});
