/**
 * Maps a path in the policy document (`['routes', 1, 'retry', 'attempts']`) to a line and column
 * in the YAML text, so every issue can be reported as `file:line:column: message`.
 *
 * Validation runs on the plain JS value (`doc.toJS()`), in which aliases and `<<` merge keys are
 * already resolved, so some paths have no node of their own in the text: a key that came in
 * through `<<: *retry-defaults` lives in the anchored block, not under the route. Such issues
 * are located at the nearest ancestor that does exist, i.e. where the block is used.
 */
import { isAlias, isMap, isScalar, isSeq, type Document, type LineCounter, type Node, type Pair, type YAMLMap } from 'yaml';

export type PolicyPath = readonly (string | number)[];

export interface SourcePosition {
  readonly line: number;
  readonly column: number;
}

const START_OF_FILE: SourcePosition = { line: 1, column: 1 };

/** Merge keys may bring in maps that merge others; a bound keeps a self-referencing file finite. */
const MAX_MERGE_DEPTH = 16;

export class SourceLocator {
  constructor(
    private readonly doc: Document,
    private readonly lineCounter: LineCounter,
  ) {}

  /** Where the value at `path` starts, or where its nearest existing ancestor starts. */
  valueAt(path: PolicyPath): SourcePosition {
    for (let depth = path.length; depth >= 0; depth--) {
      const prefix = path.slice(0, depth);
      const node = this.nodeAt(prefix);
      if (node === undefined) continue;
      // `hedge:` with nothing after it is an empty null scalar placed after the colon, at the
      // end of the line; the key is where a reader's eye goes.
      const last = prefix[prefix.length - 1];
      if (isEmptyScalar(node) && last !== undefined) return this.keyAt(prefix.slice(0, -1), last);
      return this.position(node);
    }
    return START_OF_FILE;
  }

  /** Where the key `key` of the mapping at `path` is written; falls back to `valueAt(path)`. */
  keyAt(path: PolicyPath, key: string | number): SourcePosition {
    const mapping = this.nodeAt(path);
    const pair = isMap(mapping) ? findPair(mapping.items, key) : undefined;
    if (pair !== undefined && isNodeWithRange(pair.key)) return this.position(pair.key);
    return this.valueAt(path);
  }

  /**
   * The offset of the text a value really comes from, following aliases and `<<` merge keys;
   * undefined when there is no such node. Two paths with one origin share one piece of text
   * (an anchored block used twice), so an issue there needs reporting only once.
   */
  originOf(path: PolicyPath, key?: string | number): number | undefined {
    let node: unknown = this.deref(this.doc.contents);
    for (const segment of path) node = this.deref(this.child(node, segment));
    if (key === undefined) return isNodeWithRange(node) ? node.range?.[0] : undefined;
    const pair = isMap(node) ? this.pairThroughMerges(node, key, 0) : undefined;
    return isNodeWithRange(pair?.key) ? pair.key.range?.[0] : undefined;
  }

  private child(node: unknown, segment: string | number): unknown {
    if (isMap(node)) return this.pairThroughMerges(node, segment, 0)?.value ?? undefined;
    if (isSeq(node) && typeof segment === 'number') return node.items[segment];
    return undefined;
  }

  /** The pair for `key`: the map's own, else the first one brought in by a `<<` merge key. */
  private pairThroughMerges(map: YAMLMap, key: string | number, depth: number): Pair<unknown, unknown> | undefined {
    const own = findPair(map.items, key);
    if (own !== undefined || depth > MAX_MERGE_DEPTH) return own;
    for (const pair of map.items.filter(isMergePair)) {
      const source = this.deref(pair.value);
      const sources = isSeq(source) ? source.items.map((item) => this.deref(item)) : [source];
      for (const merged of sources) {
        const found = isMap(merged) ? this.pairThroughMerges(merged, key, depth + 1) : undefined;
        if (found !== undefined) return found;
      }
    }
    return undefined;
  }

  private deref(node: unknown): unknown {
    return isAlias(node) ? node.resolve(this.doc) : node;
  }

  private nodeAt(path: PolicyPath): Node | undefined {
    const found: unknown = this.doc.getIn(path, true);
    return isNodeWithRange(found) ? found : undefined;
  }

  private position(node: Node): SourcePosition {
    const offset = node.range?.[0];
    if (offset === undefined) return START_OF_FILE;
    const { line, col } = this.lineCounter.linePos(offset);
    return { line, column: col };
  }
}

/**
 * `routes[1].retry.attempts`. Keys that are not plain words (`my.service`) are quoted so the
 * path stays unambiguous: `upstreams["my.service"].endpoints[0]`.
 */
export function formatPath(path: PolicyPath): string {
  let text = '';
  for (const segment of path) {
    if (typeof segment === 'number') text += `[${segment}]`;
    else if (/^[A-Za-z_$][\w$-]*$/.test(segment)) text += text === '' ? segment : `.${segment}`;
    else text += `[${JSON.stringify(segment)}]`;
  }
  return text;
}

function findPair(items: readonly Pair<unknown, unknown>[], key: string | number): Pair<unknown, unknown> | undefined {
  return items.find((pair) => isScalar(pair.key) && !isMergePair(pair) && String(pair.key.value) === String(key));
}

/** `<<: *base`: the key is a plain `<<`, which `yaml` (with `merge: true`) turns into a symbol. */
function isMergePair(pair: Pair<unknown, unknown>): boolean {
  return isScalar(pair.key) && (pair.key.value === '<<' || (typeof pair.key.value === 'symbol' && pair.key.value.description === '<<'));
}

function isNodeWithRange(value: unknown): value is Node {
  return typeof value === 'object' && value !== null && 'range' in value && Array.isArray(value.range);
}

function isEmptyScalar(node: Node): boolean {
  const range = node.range;
  return isScalar(node) && node.value === null && range != null && range[0] === range[1];
}
