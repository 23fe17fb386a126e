/**
 * A stand-in for `helm template`, for the machines this project is tested on (no Helm binary):
 * Go's text/template (actions, pipelines, variables, if/with/range/else, define/include/
 * template, whitespace trimming, comments) with the Helm and Sprig functions this chart uses,
 * Helm's value coalescing, and its way of splitting the output into manifests.
 *
 * It follows Go and Helm where charts commonly trip: values are float64 (YAML numbers), `int`
 * and `add` give int64, `eq`/`lt` refuse to compare the two, `printf "%d"` refuses a float64,
 * a field of a missing value is an error while a missing key of a map is empty, a field that a
 * built-in object (.Chart, .Release…) lacks is an error, values are read as YAML 1.1 (so `off`
 * is false). It is not Helm: `helm lint` and `helm template` remain the real checks.
 */
import { createHash } from 'node:crypto';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { parse as parseYaml, parseAllDocuments, stringify } from 'yaml';

export class TemplateError extends Error {
  override readonly name = 'TemplateError';
}

// ---------------------------------------------------------------------------------------------
// Values

type Value = unknown;
type Dict = Record<string, Value>;
const STRUCT = Symbol('go struct'); // built-in objects: a missing field is an error, as in Go

function isDict(v: Value): v is Dict {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** YAML as Helm reads it (sigs.k8s.io/yaml over go-yaml v2: YAML 1.1, merge keys). */
export function readYaml(text: string): Value {
  return parseYaml(text, { version: '1.1', merge: true }) as Value;
}

/** Helm's coalescing of user values over the chart's: maps merge, anything else replaces, null deletes. */
export function coalesce(defaults: Value, override: Value): Value {
  if (!isDict(defaults) || !isDict(override)) return override === undefined ? defaults : override;
  const out: Dict = { ...defaults };
  for (const [key, value] of Object.entries(override)) {
    if (value === null) delete out[key];
    else out[key] = key in defaults ? coalesce(defaults[key], value) : value;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Lexing and parsing

type Token =
  | { t: 'str'; v: string }
  | { t: 'num'; v: string }
  | { t: 'field'; path: string[]; glued: boolean } // .a.b ; [] is "."; glued: right after a )
  | { t: 'var'; name: string; path: string[] } // $x.a ; name "" is "$"
  | { t: 'ident'; v: string }
  | { t: 'punct'; v: '(' | ')' | '|' | ':=' | '=' | ',' };

type Operand =
  | { k: 'lit'; v: Value }
  | { k: 'field'; path: string[] }
  | { k: 'var'; name: string; path: string[] }
  | { k: 'fn'; name: string }
  | { k: 'pipe'; pipe: Pipeline; path: string[] };
interface Command {
  readonly operands: Operand[];
}
interface Pipeline {
  readonly decl: string[];
  readonly assign: boolean; // `=` rather than `:=`
  readonly commands: Command[];
}
type Node =
  | { kind: 'text'; text: string }
  | { kind: 'action'; pipe: Pipeline; line: number }
  | { kind: 'if' | 'with' | 'range'; pipe: Pipeline; list: Node[]; elseList: Node[]; line: number }
  | { kind: 'template'; name: string; pipe?: Pipeline; line: number };

const KEYWORDS = new Set(['if', 'else', 'end', 'range', 'with', 'define', 'template', 'block', 'break', 'continue']);

function tokenize(src: string, where: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  const ident = /[A-Za-z_][A-Za-z0-9_]*/y;
  const readPath = (): string[] => {
    const path: string[] = [];
    while (src[i] === '.') {
      ident.lastIndex = i + 1;
      const m = ident.exec(src);
      if (m === null) break;
      path.push(m[0]);
      i = ident.lastIndex;
    }
    return path;
  };
  while (i < src.length) {
    const c = src[i] as string;
    if (/\s/.test(c)) {
      i++;
    } else if (c === '"') {
      let j = i + 1;
      while (j < src.length && src[j] !== '"') j += src[j] === '\\' ? 2 : 1;
      if (j >= src.length) throw new TemplateError(`${where}: unterminated string`);
      tokens.push({ t: 'str', v: JSON.parse(src.slice(i, j + 1)) as string });
      i = j + 1;
    } else if (c === '`') {
      const j = src.indexOf('`', i + 1);
      if (j < 0) throw new TemplateError(`${where}: unterminated raw string`);
      tokens.push({ t: 'str', v: src.slice(i + 1, j) });
      i = j + 1;
    } else if (/[0-9]/.test(c) || (c === '-' && /[0-9]/.test(src[i + 1] ?? ''))) {
      const m = /-?[0-9]+(\.[0-9]+)?/y;
      m.lastIndex = i;
      const n = m.exec(src) as RegExpExecArray;
      tokens.push({ t: 'num', v: n[0] });
      i = m.lastIndex;
    } else if (c === '.') {
      const glued = src[i - 1] === ')';
      const path = readPath();
      if (path.length === 0) i++;
      tokens.push({ t: 'field', path, glued });
    } else if (c === '$') {
      ident.lastIndex = i + 1;
      const m = ident.exec(src);
      i = m === null ? i + 1 : ident.lastIndex;
      tokens.push({ t: 'var', name: m?.[0] ?? '', path: readPath() });
    } else if (c === ':' && src[i + 1] === '=') {
      tokens.push({ t: 'punct', v: ':=' });
      i += 2;
    } else if ('()|=,'.includes(c)) {
      tokens.push({ t: 'punct', v: c as '(' | ')' | '|' | '=' | ',' });
      i++;
    } else {
      ident.lastIndex = i;
      const m = ident.exec(src);
      if (m === null) throw new TemplateError(`${where}: unexpected "${c}" in action`);
      tokens.push({ t: 'ident', v: m[0] });
      i = ident.lastIndex;
    }
  }
  return tokens;
}

function parsePipeline(tokens: Token[], where: string, allowDecl = true): Pipeline {
  let pos = 0;
  const decl: string[] = [];
  let assign = false;
  // `$x :=`, `$x =`, `$i, $v :=`
  const declEnd = tokens.findIndex((t) => t.t === 'punct' && (t.v === ':=' || t.v === '='));
  if (allowDecl && declEnd > 0 && tokens.slice(0, declEnd).every((t) => t.t === 'var' || (t.t === 'punct' && t.v === ','))) {
    for (const t of tokens.slice(0, declEnd)) if (t.t === 'var') decl.push(t.name);
    assign = (tokens[declEnd] as { v: string }).v === '=';
    pos = declEnd + 1;
  }
  const parseCommands = (stopAtParen: boolean): Command[] => {
    const commands: Command[] = [];
    let operands: Operand[] = [];
    while (pos < tokens.length) {
      const t = tokens[pos] as Token;
      if (t.t === 'punct' && t.v === ')') {
        if (!stopAtParen) throw new TemplateError(`${where}: unexpected )`);
        break;
      }
      pos++;
      if (t.t === 'punct' && t.v === '|') {
        if (operands.length === 0) throw new TemplateError(`${where}: empty command before |`);
        commands.push({ operands });
        operands = [];
      } else if (t.t === 'punct' && t.v === '(') {
        const inner = parseCommands(true);
        if ((tokens[pos] as Token | undefined)?.t !== 'punct') throw new TemplateError(`${where}: unclosed (`);
        pos++;
        const next = tokens[pos];
        let path: string[] = [];
        if (next?.t === 'field' && next.glued && next.path.length > 0) {
          path = next.path;
          pos++;
        }
        operands.push({ k: 'pipe', pipe: { decl: [], assign: false, commands: inner }, path });
      } else if (t.t === 'str') operands.push({ k: 'lit', v: t.v });
      else if (t.t === 'num') operands.push({ k: 'lit', v: /\./.test(t.v) ? Number(t.v) : BigInt(t.v) });
      else if (t.t === 'field') operands.push({ k: 'field', path: t.path });
      else if (t.t === 'var') operands.push({ k: 'var', name: t.name, path: t.path });
      else if (t.t === 'ident') {
        if (t.v === 'true' || t.v === 'false') operands.push({ k: 'lit', v: t.v === 'true' });
        else if (t.v === 'nil') operands.push({ k: 'lit', v: null });
        else if (KEYWORDS.has(t.v)) throw new TemplateError(`${where}: unexpected keyword ${t.v}`);
        else if (!Object.hasOwn(FUNCTIONS, t.v)) throw new TemplateError(`${where}: function "${t.v}" not defined`);
        else operands.push({ k: 'fn', name: t.v });
      } else throw new TemplateError(`${where}: unexpected ${t.v}`);
    }
    if (operands.length === 0) throw new TemplateError(`${where}: missing command`);
    commands.push({ operands });
    return commands;
  };
  const commands = parseCommands(false);
  return { decl, assign, commands };
}

interface Parsed {
  readonly nodes: Node[];
  readonly defines: Map<string, Node[]>;
}

/** Parse one template file into nodes, collecting its `define`s. */
export function parseTemplate(text: string, file: string): Parsed {
  // 1. Split into text and actions, applying the trim markers.
  type Piece = { text: string } | { action: string; line: number };
  const pieces: Piece[] = [];
  let i = 0;
  let trimNext = false;
  while (i < text.length) {
    const open = text.indexOf('{{', i);
    let chunk = open < 0 ? text.slice(i) : text.slice(i, open);
    if (trimNext) chunk = chunk.replace(/^\s+/, '');
    if (open < 0) {
      pieces.push({ text: chunk });
      break;
    }
    const line = text.slice(0, open).split('\n').length;
    let j = open + 2;
    const trimLeft = text[j] === '-' && /\s/.test(text[j + 1] ?? '');
    if (trimLeft) {
      chunk = chunk.replace(/\s+$/, '');
      j += 2;
    }
    pieces.push({ text: chunk });
    // Find the closing braces, skipping quoted strings and comments.
    let k = j;
    const isComment = text.slice(j).trimStart().startsWith('/*');
    if (isComment) {
      const endComment = text.indexOf('*/', j);
      if (endComment < 0) throw new TemplateError(`${file}:${line}: unclosed comment`);
      k = endComment + 2;
    }
    for (; k < text.length; k++) {
      const ch = text[k];
      if (ch === '"') {
        for (k++; k < text.length && text[k] !== '"'; k += text[k] === '\\' ? 2 : 1);
      } else if (ch === '`') {
        k = text.indexOf('`', k + 1);
        if (k < 0) break;
      } else if (ch === '}' && text[k + 1] === '}') break;
    }
    if (k < 0 || k >= text.length) throw new TemplateError(`${file}:${line}: unclosed action`);
    let inner = text.slice(j, k);
    trimNext = /\s-$/.test(inner);
    if (trimNext) inner = inner.slice(0, -2);
    if (isComment) {
      if (!/^\s*\/\*[\s\S]*\*\/\s*$/.test(inner)) throw new TemplateError(`${file}:${line}: a comment must fill its action`);
    } else {
      pieces.push({ action: inner.trim(), line });
    }
    i = k + 2;
  }

  // 2. Build the tree.
  const defines = new Map<string, Node[]>();
  let p = 0;
  type Stop = { word: 'end' | 'else' | 'eof'; rest: string; line: number };
  const parseList = (topLevel: boolean): { nodes: Node[]; stop: Stop } => {
    const nodes: Node[] = [];
    while (p < pieces.length) {
      const piece = pieces[p++] as Piece;
      if ('text' in piece) {
        if (piece.text !== '') nodes.push({ kind: 'text', text: piece.text });
        continue;
      }
      const where = `${file}:${piece.line}`;
      const m = /^([a-z]+)\b\s*([\s\S]*)$/.exec(piece.action);
      const word = m?.[1] ?? '';
      const rest = m?.[2] ?? '';
      if (word === 'end' || word === 'else') {
        if (topLevel) throw new TemplateError(`${where}: unexpected {{${word}}}`);
        return { nodes, stop: { word, rest, line: piece.line } };
      }
      if (word === 'if' || word === 'with' || word === 'range') {
        nodes.push(parseControl(word, rest, piece.line, where));
      } else if (word === 'define') {
        const name = /^"([^"]+)"$/.exec(rest.trim())?.[1];
        if (name === undefined) throw new TemplateError(`${where}: define needs a quoted name`);
        if (!topLevel) throw new TemplateError(`${where}: define inside another block`);
        const body = parseList(false);
        if (body.stop.word !== 'end') throw new TemplateError(`${where}: define "${name}" has an else`);
        if (defines.has(name)) throw new TemplateError(`${where}: template "${name}" defined twice`);
        defines.set(name, body.nodes);
      } else if (word === 'template') {
        const tm = /^"([^"]+)"\s*([\s\S]*)$/.exec(rest);
        if (tm === null) throw new TemplateError(`${where}: template needs a quoted name`);
        const pipeText = tm[2] as string;
        nodes.push({ kind: 'template', name: tm[1] as string, line: piece.line, ...(pipeText.trim() === '' ? {} : { pipe: parsePipeline(tokenize(pipeText, where), where) }) });
      } else if (word === 'block' || word === 'break' || word === 'continue') {
        throw new TemplateError(`${where}: {{${word}}} is not supported by this renderer`);
      } else {
        nodes.push({ kind: 'action', pipe: parsePipeline(tokenize(piece.action, where), where), line: piece.line });
      }
    }
    if (!topLevel) throw new TemplateError(`${file}: a block is not closed with {{end}}`);
    return { nodes, stop: { word: 'eof', rest: '', line: 0 } };
  };
  const parseControl = (kind: 'if' | 'with' | 'range', rest: string, line: number, where: string): Node => {
    const pipe = parsePipeline(tokenize(rest, where), where);
    const body = parseList(false);
    let elseList: Node[] = [];
    if (body.stop.word === 'else') {
      const chained = /^(if|with)\b\s*([\s\S]*)$/.exec(body.stop.rest);
      if (chained !== null) {
        // `else if` / `else with`: a nested block that shares this block's end.
        elseList = [parseControl(chained[1] as 'if' | 'with', chained[2] as string, body.stop.line, `${file}:${body.stop.line}`)];
      } else {
        if (body.stop.rest.trim() !== '') throw new TemplateError(`${where}: unexpected text after else`);
        const after = parseList(false);
        if (after.stop.word !== 'end') throw new TemplateError(`${where}: two elses`);
        elseList = after.nodes;
      }
    } else if (body.stop.rest.trim() !== '') {
      throw new TemplateError(`${where}: unexpected text after end`);
    }
    return { kind, pipe, list: body.nodes, elseList, line };
  };
  const { nodes } = parseList(true);
  return { nodes, defines };
}

// ---------------------------------------------------------------------------------------------
// Evaluation

function truth(v: Value): boolean {
  if (v === null || v === undefined) return false;
  if (typeof v === 'boolean') return v;
  if (typeof v === 'number') return v !== 0;
  if (typeof v === 'bigint') return v !== 0n;
  if (typeof v === 'string' || Array.isArray(v)) return v.length > 0;
  if (isDict(v)) return Object.keys(v).length > 0;
  return true;
}

/** Go's %v of a float64: shortest repr, exponent form from 1e21 or below 1e-4 (and from 1e6: %v uses %g). */
function goFloat(n: number): string {
  if (Number.isInteger(n) && Math.abs(n) < 1e6) return String(n);
  const exp = n === 0 ? 0 : Math.floor(Math.log10(Math.abs(n)));
  if (exp < -4 || exp >= 21 || (Number.isInteger(n) && exp >= 6)) {
    return n.toExponential().replace(/e([+-])(\d)$/, 'e$10$2');
  }
  return String(n);
}

export function goString(v: Value): string {
  if (v === null || v === undefined) return ''; // Go's "<no value>", which Helm removes
  if (typeof v === 'string') return v;
  if (typeof v === 'number') return goFloat(v);
  if (typeof v === 'bigint' || typeof v === 'boolean') return String(v);
  if (Array.isArray(v)) return `[${v.map(goString).join(' ')}]`;
  if (isDict(v)) return `map[${Object.keys(v).sort().map((k) => `${k}:${goString(v[k])}`).join(' ')}]`;
  return String(v);
}

function toInt(v: Value): bigint {
  if (typeof v === 'bigint') return v;
  if (typeof v === 'number') return BigInt(Math.trunc(v));
  if (typeof v === 'boolean') return v ? 1n : 0n;
  if (typeof v === 'string') return /^-?\d+$/.test(v.trim()) ? BigInt(v.trim()) : 0n;
  return 0n;
}

function kindOf(v: Value): string {
  if (typeof v === 'bigint') return 'int';
  if (typeof v === 'number') return 'float64';
  if (v === null || v === undefined) return 'nil';
  return typeof v;
}

function compare(a: Value, b: Value, op: string): number {
  const [ka, kb] = [kindOf(a), kindOf(b)];
  if (ka !== kb) throw new TemplateError(`${op}: incompatible types for comparison (${ka} and ${kb}); convert with int or float64`);
  if (ka === 'nil') return 0;
  if (ka === 'boolean') {
    if (op !== 'eq' && op !== 'ne') throw new TemplateError(`${op}: invalid type for comparison`);
    return a === b ? 0 : 1;
  }
  const [x, y] = [a as string | number | bigint, b as string | number | bigint];
  return x < y ? -1 : x > y ? 1 : 0;
}

function empty(v: Value): boolean {
  return !truth(v);
}

function printf(format: string, ...args: Value[]): string {
  let n = 0;
  return format.replace(/%([-+ 0#]*\d*)([sdvqtf%])/g, (_m, _flags: string, verb: string) => {
    if (verb === '%') return '%';
    const arg = args[n++];
    switch (verb) {
      case 'd':
        if (typeof arg !== 'bigint') throw new TemplateError(`printf %d got ${kindOf(arg)} (Go prints %!d(${kindOf(arg)}=${goString(arg)})); convert with int`);
        return String(arg);
      case 'q':
        return JSON.stringify(goString(arg));
      default:
        return goString(arg);
    }
  });
}

function toYaml(v: Value): string {
  if (v === undefined || v === null) return 'null';
  const plain = JSON.parse(JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? Number(x) : x))) as unknown;
  return stringify(plain, { version: '1.1', sortMapEntries: true, indentSeq: false, lineWidth: 0 }).replace(/\n$/, '');
}

function indent(n: Value, s: Value): string {
  const pad = ' '.repeat(Number(toInt(n)));
  return pad + goString(s).replace(/\n/g, `\n${pad}`);
}

type Fn = (this: Renderer, ...args: Value[]) => Value;
const FUNCTIONS: Record<string, Fn> = {
  include(name, data) {
    return this.run(goString(name), data);
  },
  required(message, v) {
    if (v === null || v === undefined || v === '') throw new TemplateError(goString(message));
    return v;
  },
  fail(message) {
    throw new TemplateError(`fail: ${goString(message)}`);
  },
  toYaml: (v) => toYaml(v),
  toJson: (v) => JSON.stringify(v ?? null),
  nindent: (n, s) => `\n${indent(n, s)}`,
  indent: (n, s) => indent(n, s),
  quote: (...xs) => xs.filter((x) => x !== null && x !== undefined).map((x) => JSON.stringify(goString(x))).join(' '),
  squote: (...xs) => xs.filter((x) => x !== null && x !== undefined).map((x) => `'${goString(x)}'`).join(' '),
  default: (d, ...v) => (v.length === 0 || empty(v[0]) ? d : v[0]),
  empty: (v) => empty(v),
  coalesce: (...xs) => xs.find((x) => !empty(x)) ?? null,
  ternary: (a, b, c) => (truth(c) ? a : b),
  printf: (f, ...args) => printf(goString(f), ...args),
  print: (...xs) => xs.map(goString).join(''),
  trunc: (n, s) => goString(s).slice(0, Number(toInt(n))),
  trimSuffix: (suffix, s) => (goString(s).endsWith(goString(suffix)) ? goString(s).slice(0, -goString(suffix).length || undefined) : goString(s)),
  trimPrefix: (prefix, s) => (goString(s).startsWith(goString(prefix)) ? goString(s).slice(goString(prefix).length) : goString(s)),
  trim: (s) => goString(s).trim(),
  replace: (a, b, s) => goString(s).split(goString(a)).join(goString(b)),
  contains: (sub, s) => goString(s).includes(goString(sub)),
  hasPrefix: (p, s) => goString(s).startsWith(goString(p)),
  hasSuffix: (p, s) => goString(s).endsWith(goString(p)),
  lower: (s) => goString(s).toLowerCase(),
  upper: (s) => goString(s).toUpperCase(),
  toString: (v: Value) => goString(v),
  int: (v) => toInt(v),
  int64: (v) => toInt(v),
  float64: (v) => Number(typeof v === 'string' ? v || 0 : v ?? 0),
  add: (...xs) => xs.reduce<bigint>((a, x) => a + toInt(x), 0n),
  sub: (a, b) => toInt(a) - toInt(b),
  mul: (...xs) => xs.reduce<bigint>((a, x) => a * toInt(x), 1n),
  max: (...xs) => xs.map(toInt).reduce((a, b) => (a > b ? a : b)),
  min: (...xs) => xs.map(toInt).reduce((a, b) => (a < b ? a : b)),
  len: (v) => BigInt(Array.isArray(v) || typeof v === 'string' ? v.length : isDict(v) ? Object.keys(v).length : 0),
  sha256sum: (s) => createHash('sha256').update(goString(s)).digest('hex'),
  b64enc: (s) => Buffer.from(goString(s)).toString('base64'),
  list: (...xs) => xs,
  concat: (...lists) => lists.flatMap((l) => (Array.isArray(l) ? l : l === null || l === undefined ? [] : [l])),
  uniq: (l) => (Array.isArray(l) ? l.filter((x, i) => l.indexOf(x) === i) : []),
  join: (sep, l) => (Array.isArray(l) ? l.map(goString).join(goString(sep)) : goString(l)),
  splitList: (sep, s) => goString(s).split(goString(sep)),
  dict: (...kv) => Object.fromEntries(Array.from({ length: Math.floor(kv.length / 2) }, (_, i) => [goString(kv[2 * i]), kv[2 * i + 1]])),
  hasKey: (d, k) => isDict(d) && goString(k) in d,
  keys: (d) => (isDict(d) ? Object.keys(d) : []),
  sortAlpha: (l) => (Array.isArray(l) ? l.map(goString).sort() : []),
  not: (v) => !truth(v),
  and: (...xs) => xs.find((x) => !truth(x)) ?? xs.at(-1),
  or: (...xs) => xs.find((x) => truth(x)) ?? xs.at(-1),
  eq: (a, ...bs) => bs.some((b) => compare(a, b, 'eq') === 0),
  ne: (a, b) => compare(a, b, 'ne') !== 0,
  lt: (a, b) => compare(a, b, 'lt') < 0,
  le: (a, b) => compare(a, b, 'le') <= 0,
  gt: (a, b) => compare(a, b, 'gt') > 0,
  ge: (a, b) => compare(a, b, 'ge') >= 0,
};
export const FUNCTION_NAMES: ReadonlySet<string> = new Set(Object.keys(FUNCTIONS));

type Scope = Map<string, Value>[];

class Renderer {
  readonly defines: Map<string, Node[]>;
  #depth = 0;
  constructor(defines: Map<string, Node[]>) {
    this.defines = defines;
  }

  run(name: string, data: Value): string {
    const body = this.defines.get(name);
    if (body === undefined) throw new TemplateError(`no template "${name}"`);
    if (++this.#depth > 100) throw new TemplateError(`template "${name}" recurses too deep`);
    try {
      return this.list(body, data, [new Map([['', data]])]);
    } finally {
      this.#depth--;
    }
  }

  list(nodes: readonly Node[], dot: Value, scope: Scope): string {
    let out = '';
    for (const node of nodes) out += this.node(node, dot, scope);
    return out;
  }

  node(node: Node, dot: Value, scope: Scope): string {
    switch (node.kind) {
      case 'text':
        return node.text;
      case 'action': {
        const v = this.pipeline(node.pipe, dot, scope, node.line);
        return node.pipe.decl.length > 0 ? '' : goString(v);
      }
      case 'template':
        return this.run(node.name, node.pipe === undefined ? null : this.pipeline(node.pipe, dot, scope, node.line));
      case 'if':
      case 'with': {
        const inner: Scope = [...scope, new Map()];
        const v = this.pipeline(node.pipe, dot, inner, node.line);
        if (truth(v)) return this.list(node.list, node.kind === 'with' ? v : dot, inner);
        return this.list(node.elseList, dot, [...scope, new Map()]);
      }
      case 'range': {
        const inner: Scope = [...scope, new Map()];
        const pipe = { ...node.pipe, decl: [] };
        const v = this.pipeline(pipe, dot, inner, node.line);
        const entries: [Value, Value][] = Array.isArray(v)
          ? v.map((x, i) => [BigInt(i), x])
          : isDict(v)
            ? Object.keys(v).sort().map((k) => [k, v[k]])
            : v === null || v === undefined
              ? []
              : (() => {
                  throw new TemplateError(`line ${node.line}: range can't iterate over ${goString(v)}`);
                })();
        if (entries.length === 0) return this.list(node.elseList, dot, [...scope, new Map()]);
        let out = '';
        for (const [key, value] of entries) {
          const frame = new Map<string, Value>();
          if (node.pipe.decl.length === 1) frame.set(node.pipe.decl[0] as string, value);
          if (node.pipe.decl.length === 2) {
            frame.set(node.pipe.decl[0] as string, key);
            frame.set(node.pipe.decl[1] as string, value);
          }
          out += this.list(node.list, value, [...inner, frame]);
        }
        return out;
      }
    }
  }

  pipeline(pipe: Pipeline, dot: Value, scope: Scope, line: number): Value {
    let value: Value = undefined;
    let first = true;
    for (const command of pipe.commands) {
      value = this.command(command, dot, scope, line, first ? undefined : { value });
      first = false;
    }
    if (pipe.decl.length > 0) {
      const name = pipe.decl[0] as string;
      if (pipe.assign) {
        const frame = [...scope].reverse().find((f) => f.has(name));
        if (frame === undefined) throw new TemplateError(`line ${line}: undefined variable $${name}`);
        frame.set(name, value);
      } else {
        (scope.at(-1) as Map<string, Value>).set(name, value);
      }
    }
    return value;
  }

  command(command: Command, dot: Value, scope: Scope, line: number, piped?: { value: Value }): Value {
    const [head, ...rest] = command.operands as [Operand, ...Operand[]];
    if (head.k === 'fn') {
      const args = rest.map((o) => this.operand(o, dot, scope, line));
      if (piped !== undefined) args.push(piped.value);
      try {
        return (FUNCTIONS[head.name] as Fn).apply(this, args);
      } catch (err) {
        if (err instanceof TemplateError && !/^line \d+/.test(err.message)) throw new TemplateError(`line ${line}: ${head.name}: ${err.message}`);
        throw err;
      }
    }
    if (rest.length > 0 || piped !== undefined) throw new TemplateError(`line ${line}: can't give arguments to a non-function`);
    return this.operand(head, dot, scope, line);
  }

  operand(o: Operand, dot: Value, scope: Scope, line: number): Value {
    switch (o.k) {
      case 'lit':
        return o.v;
      case 'field':
        return this.field(dot, o.path, line, '');
      case 'var': {
        const frame = [...scope].reverse().find((f) => f.has(o.name));
        if (frame === undefined) throw new TemplateError(`line ${line}: undefined variable $${o.name}`);
        return this.field(frame.get(o.name), o.path, line, `$${o.name}`);
      }
      case 'pipe':
        return this.field(this.pipeline(o.pipe, dot, scope, line), o.path, line, '(…)');
      case 'fn':
        return (FUNCTIONS[o.name] as Fn).apply(this, []);
    }
  }

  field(base: Value, path: readonly string[], line: number, what: string): Value {
    let v = base;
    let at = what;
    for (const name of path) {
      if (v === null || v === undefined) throw new TemplateError(`line ${line}: nil pointer evaluating interface {}.${name} (${at}.${name})`);
      if (!isDict(v)) throw new TemplateError(`line ${line}: can't evaluate field ${name} in type ${kindOf(v)} (${at}.${name})`);
      if (STRUCT in v && !(name in v)) throw new TemplateError(`line ${line}: can't evaluate field ${name} (${at}.${name})`);
      v = v[name];
      at += `.${name}`;
    }
    return v;
  }
}

// ---------------------------------------------------------------------------------------------
// Charts

export interface Chart {
  readonly dir: string;
  readonly metadata: Dict;
  readonly values: Dict;
  /** Template files, relative to the chart (templates/deployment.yaml…), and their text. */
  readonly templates: ReadonlyMap<string, string>;
}

function walk(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? walk(path) : [path];
  });
}

export function loadChart(dir: string): Chart {
  const templates = new Map<string, string>();
  for (const file of walk(join(dir, 'templates')).sort()) templates.set(relative(dir, file), readFileSync(file, 'utf8'));
  return {
    dir,
    metadata: readYaml(readFileSync(join(dir, 'Chart.yaml'), 'utf8')) as Dict,
    values: readYaml(readFileSync(join(dir, 'values.yaml'), 'utf8')) as Dict,
    templates,
  };
}

export interface Manifest {
  readonly source: string;
  readonly doc: Dict;
}

export interface Rendered {
  readonly values: Dict;
  /** Rendered text per template file (helpers excluded), NOTES.txt included. */
  readonly files: ReadonlyMap<string, string>;
  readonly manifests: readonly Manifest[];
}

export interface RenderOptions {
  readonly release?: string;
  readonly namespace?: string;
  readonly kubeVersion?: string;
}

/** `helm template RELEASE CHART -f override`: coalesce the values, render, split, parse. */
export function render(chart: Chart, override: Value = {}, options: RenderOptions = {}): Rendered {
  const values = coalesce(chart.values, override) as Dict;
  const parsed = new Map<string, Parsed>();
  const defines = new Map<string, Node[]>();
  for (const [file, text] of chart.templates) {
    const p = parseTemplate(text, file);
    parsed.set(file, p);
    for (const [name, body] of p.defines) {
      if (defines.has(name)) throw new TemplateError(`${file}: template "${name}" is defined in two files`);
      defines.set(name, body);
    }
  }
  const kube = (options.kubeVersion ?? 'v1.31.0').replace(/^v/, '');
  const [major, minor] = kube.split('.');
  const struct = (o: Dict): Dict => Object.assign(o, { [STRUCT]: true });
  const meta = chart.metadata;
  const root = struct({
    Values: values,
    Release: struct({ Name: options.release ?? 'demo', Namespace: options.namespace ?? 'default', Service: 'Helm', IsInstall: true, IsUpgrade: false, Revision: 1n }),
    Chart: struct({ Name: meta.name, Version: meta.version, AppVersion: meta.appVersion, Description: meta.description, Type: meta.type, KubeVersion: meta.kubeVersion, Keywords: meta.keywords }),
    Capabilities: struct({ KubeVersion: struct({ Version: `v${kube}`, Major: major, Minor: minor, GitVersion: `v${kube}` }) }),
    Template: struct({ Name: '', BasePath: `${String(meta.name)}/templates` }),
  });
  const renderer = new Renderer(defines);
  const files = new Map<string, string>();
  const manifests: Manifest[] = [];
  for (const [file, p] of parsed) {
    const name = file.split('/').at(-1) as string;
    if (name.startsWith('_')) continue;
    (root.Template as Dict).Name = `${String(meta.name)}/${file}`;
    const out = renderer.list(p.nodes, root, [new Map([['', root]])]);
    files.set(file, out);
    if (name === 'NOTES.txt') continue;
    for (const text of out.split(/(?:^|\n)---[^\n]*(?=\n|$)/)) {
      if (text.trim() === '') continue;
      const docs = parseAllDocuments(text, { version: '1.1' });
      for (const doc of docs) {
        if (doc.errors.length > 0) throw new TemplateError(`${file}: invalid YAML: ${doc.errors[0]?.message}\n${text}`);
        const value = doc.toJS() as Value;
        if (value === null || value === undefined) continue;
        if (!isDict(value)) throw new TemplateError(`${file}: a manifest that is not a mapping:\n${text}`);
        manifests.push({ source: file, doc: value });
      }
    }
  }
  return { values, files, manifests };
}

// ---------------------------------------------------------------------------------------------
// Static analysis, for the checks that must cover every branch, taken or not

export interface Reference {
  readonly kind: 'values' | 'include';
  readonly file: string;
  readonly line: number;
  /** For values: the path after .Values; for include/template: the template name. */
  readonly path: readonly string[];
  /** Inside a with or range block, where the dot is no longer the root. */
  readonly scoped: boolean;
  /** Reached through $ (the root) rather than the dot. */
  readonly viaRoot: boolean;
  /** For include: how the data argument is written. */
  readonly data?: 'dot' | 'root' | 'other';
}

export interface Analysis {
  readonly defines: ReadonlySet<string>;
  readonly references: readonly Reference[];
}

export function analyze(text: string, file: string): Analysis {
  const parsed = parseTemplate(text, file);
  const references: Reference[] = [];
  const visitPipe = (pipe: Pipeline, line: number, scoped: boolean): void => {
    for (const command of pipe.commands) {
      command.operands.forEach((o, i) => {
        if (o.k === 'field' && o.path[0] === 'Values') {
          references.push({ kind: 'values', file, line, path: o.path.slice(1), scoped, viaRoot: false });
        } else if (o.k === 'var' && o.name === '' && o.path[0] === 'Values') {
          references.push({ kind: 'values', file, line, path: o.path.slice(1), scoped, viaRoot: true });
        } else if (o.k === 'pipe') {
          visitPipe(o.pipe, line, scoped);
        } else if (o.k === 'fn' && o.name === 'include') {
          const name = command.operands[i + 1];
          const data = command.operands[i + 2];
          const how = data?.k === 'field' && data.path.length === 0 ? 'dot' : data?.k === 'var' && data.name === '' && data.path.length === 0 ? 'root' : 'other';
          references.push({ kind: 'include', file, line, path: [name?.k === 'lit' ? goString(name.v) : '?'], scoped, viaRoot: false, data: how });
        }
      });
    }
  };
  const visit = (nodes: readonly Node[], scoped: boolean): void => {
    for (const node of nodes) {
      if (node.kind === 'action') visitPipe(node.pipe, node.line, scoped);
      else if (node.kind === 'template') {
        references.push({ kind: 'include', file, line: node.line, path: [node.name], scoped, viaRoot: false, data: 'other' });
        if (node.pipe !== undefined) visitPipe(node.pipe, node.line, scoped);
      } else if (node.kind !== 'text') {
        visitPipe(node.pipe, node.line, scoped);
        visit(node.list, scoped || node.kind !== 'if');
        visit(node.elseList, scoped);
      }
    }
  };
  visit(parsed.nodes, false);
  for (const body of parsed.defines.values()) visit(body, false);
  return { defines: new Set(parsed.defines.keys()), references };
}
