/**
 * Property-based tests of the policy parser (fast-check): whatever text it is given, arbitrary
 * strings, YAML of arbitrary values, or a real policy mutated at random in structure and in
 * text, `loadPolicyText` either loads it or returns issues located at line ≥ 1, column ≥ 1,
 * and never throws. Bounded in runs and time so CI stays fast.
 */
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import t from 'tap';
import { parse, stringify } from 'yaml';
import { loadPolicyText } from '../../src/config/load.js';

const FILE = 'fuzz.yaml';
const VALID = readFileSync(new URL('../../config/outrider.yaml', import.meta.url), 'utf8');
/** A fixed seed in CI (reproducible); FUZZ_SEED=random or a number to explore further. */
const FUZZ_SEED = process.env.FUZZ_SEED === 'random' ? {} : { seed: Number(process.env.FUZZ_SEED ?? 20261127) };
const PARAMS = { numRuns: 300, interruptAfterTimeLimit: 5_000, markInterruptAsFailure: false, ...FUZZ_SEED } as const;

/** The property: loads, or every issue is located inside the text; never throws. */
function loadsOrLocates(text: string): boolean {
  const result = loadPolicyText(text, FILE);
  if (result.ok) return true;
  if (result.issues.length === 0) throw new Error('rejected without an issue');
  const lines = text.split(/\r\n|\r|\n/).length;
  for (const issue of result.issues) {
    if (issue.file !== FILE) throw new Error(`issue names ${issue.file}`);
    if (!Number.isInteger(issue.line) || issue.line < 1 || issue.line > lines + 1) throw new Error(`bad line ${issue.line} (${lines} lines): ${issue.message}`);
    if (!Number.isInteger(issue.column) || issue.column < 1) throw new Error(`bad column ${issue.column}: ${issue.message}`);
    if (typeof issue.message !== 'string' || issue.message === '') throw new Error('empty message');
  }
  return true;
}

t.test('the documented policy loads (the mutations start from a valid file)', async (t) => {
  t.ok(loadPolicyText(VALID, FILE).ok);
});

t.test('any string', async () => {
  fc.assert(fc.property(fc.string({ unit: 'binary', maxLength: 400 }), loadsOrLocates), PARAMS);
  fc.assert(fc.property(fc.string({ unit: fc.constantFrom(...'version: 1\n-[]{},&*<>!|#"\'\t :routes listeners'.split('')), maxLength: 300 }), loadsOrLocates), PARAMS);
});

t.test('YAML of any value', async () => {
  fc.assert(
    fc.property(fc.jsonValue({ maxDepth: 5 }), (value) => loadsOrLocates(stringify(value))),
    PARAMS,
  );
  fc.assert(
    fc.property(fc.dictionary(fc.constantFrom('version', 'admin', 'listeners', 'upstreams', 'routes', 'defaults', 'drainTimeout', 'replayBodyLimit', 'accessLog', 'extra'), fc.jsonValue({ maxDepth: 4 })), (doc) =>
      loadsOrLocates(stringify({ version: 1, ...doc })),
    ),
    PARAMS,
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

t.test('a real policy mutated in structure', async () => {
  const base = parse(VALID) as Tree;
  const all = paths(base);
  fc.assert(
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
    PARAMS,
  );
});

t.test('a real policy mutated as text', async () => {
  const tokens = ['\n', '\t', ' ', ':', '- ', '&a ', '*a', '<<: *a\n', '{', '}', '[', ']', '"', "'", '#', '|', '>', '!!binary ', '? ', '%YAML 1.2\n', '---\n', '...\n', '\u0000', '\uFEFF', 'version: 2\n', 'routes: []\n'];
  fc.assert(
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
    PARAMS,
  );
});

t.test('alias bombs and deep nesting are refused, not expanded forever', async (t) => {
  const bomb = ['version: 1', 'a: &a ["x","x","x","x","x","x","x","x","x","x"]'];
  for (let i = 0; i < 12; i++) bomb.push(`${String.fromCharCode(98 + i)}: &${String.fromCharCode(98 + i)} [${Array(10).fill(`*${String.fromCharCode(97 + i)}`).join(',')}]`);
  const started = Date.now();
  t.ok(loadsOrLocates(bomb.join('\n')), 'a billion-laughs document');
  t.ok(Date.now() - started < 5000, `answered in ${Date.now() - started} ms`);
  t.ok(loadsOrLocates(`version: 1\nroutes: ${'['.repeat(5000)}${']'.repeat(5000)}\n`), 'five thousand nested brackets');
});
