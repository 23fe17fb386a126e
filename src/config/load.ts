/**
 * Loads a policy file: YAML → plain document → schema → cross-references → normalized, frozen
 * Policy, or every problem found, each as `file:line:column: path: message`, sorted by position.
 *
 * Steps, and why in this order:
 * 1. Parse with `yaml` (merge keys on, duplicate keys rejected). Syntax errors stop here: the
 *    document they leave behind would only produce misleading follow-up errors.
 * 2. Validate the plain document (aliases and `<<` resolved) against the strict schema, then
 *    turn Ajv's errors into one plain-language message each.
 * 3. Check what a schema cannot say: names that must exist or be unique, regexes that must
 *    compile, keys that exclude each other, keys only required once `defaults` is merged in.
 *    These run even when step 2 found problems (they skip values of the wrong type), so a user
 *    sees every issue in one go rather than fixing them round by round.
 * 4. Normalize and freeze (normalize.ts).
 */
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import type { Ajv as AjvInstance, ErrorObject, Options, ValidateFunction } from 'ajv';
import { LineCounter, parseDocument, type Document } from 'yaml';
import { didYouMean, hintFor } from './did-you-mean.js';
import { formatPath, SourceLocator, type PolicyPath, type SourcePosition } from './locate.js';
import { isPlainObject, mergeRouteDefaults, normalizePolicy, parseHostPort, SCATTER_EXCLUDED_KEYS } from './normalize.js';
import { ADDRESS_PATTERN, DEFAULTS, ENDPOINT_PATTERN } from './defaults.js';
import type { PolicyDocument } from './schema.js';
import type { LoadResult, PolicyIssue } from './types.js';
import { DURATION_PATTERN, isDuration, parseDurationMs, POSITIVE_DURATION_PATTERN } from '../util/units.js';

export async function loadPolicyFile(file: string): Promise<LoadResult> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    return { ok: false, issues: [{ file, line: 1, column: 1, message: `cannot read the policy file: ${reason}` }] };
  }
  return loadPolicyText(text, file);
}

export function loadPolicyText(text: string, file: string): LoadResult {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, merge: true, prettyErrors: false, uniqueKeys: true });
  const syntaxIssues = yamlIssues(doc, text, lineCounter, file);
  if (syntaxIssues.length > 0) return { ok: false, issues: syntaxIssues };

  let data: unknown;
  try {
    data = doc.toJS({ maxAliasCount: 100 });
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    return { ok: false, issues: [{ file, line: 1, column: 1, message: `cannot expand the YAML aliases: ${reason}` }] };
  }

  const findings = [...schemaFindings(data), ...crossReferenceFindings(data)];
  if (findings.length > 0) return { ok: false, issues: toIssues(findings, new SourceLocator(doc, lineCounter), file) };
  try {
    // Both checks passed, so `data` has the schema's shape and every cross-reference holds.
    return { ok: true, policy: normalizePolicy(data as PolicyDocument, data) };
  } catch (err) {
    // Only a bug gets here; on a hot reload it must cost the new policy, not the running sidecar.
    const reason = err instanceof Error ? err.message : String(err);
    return { ok: false, issues: [{ file, line: 1, column: 1, message: `internal error while normalizing the policy: ${reason}` }] };
  }
}

// =============================================================================================
// Findings: a problem at a path in the document, located in the text at the very end
// =============================================================================================

interface Finding {
  /** What the message is about; printed before it (`routes[1].retry.attempts: …`). */
  readonly path: PolicyPath;
  readonly message: string;
  /** Where to point instead of the value at `path`: e.g. at an unknown key itself. */
  readonly at?: { readonly path: PolicyPath; readonly key?: string | number };
  /** "missing X" findings are dropped when an unknown key at the same place looks like X. */
  readonly missingKey?: string;
  readonly suggestedKey?: string;
}

function finding(path: PolicyPath, message: string, extra: Omit<Finding, 'path' | 'message'> = {}): Finding {
  return { path, message, ...extra };
}

function toIssues(findings: readonly Finding[], locator: SourceLocator, file: string): PolicyIssue[] {
  const seen = new Set<string>();
  const issues: PolicyIssue[] = [];
  for (const f of withoutRedundant(findings)) {
    const position = locate(f, locator);
    const text = describe(f);
    // One piece of text, one issue: the same defaults block blamed by every inheriting route,
    // or an anchored block whose typo shows up again wherever `<<: *it` merges it.
    const origin = originOf(f, locator);
    const keys = [`at ${position.line}:${position.column}:${text}`, ...(origin === undefined ? [] : [`from ${origin}:${f.message}`])];
    if (keys.some((key) => seen.has(key))) continue;
    keys.forEach((key) => seen.add(key));
    issues.push({ file, line: position.line, column: position.column, message: text });
  }
  // Array#sort is stable: issues at one position keep the order they were found in.
  return issues.sort((a, b) => a.line - b.line || a.column - b.column);
}

function originOf(f: Finding, locator: SourceLocator): number | undefined {
  if (f.at === undefined) return locator.originOf(f.path);
  return locator.originOf(f.at.path, f.at.key);
}

function locate(f: Finding, locator: SourceLocator): SourcePosition {
  if (f.at === undefined) return locator.valueAt(f.path);
  return f.at.key === undefined ? locator.valueAt(f.at.path) : locator.keyAt(f.at.path, f.at.key);
}

function describe(f: Finding): string {
  return f.path.length === 0 ? f.message : `${formatPath(f.path)}: ${f.message}`;
}

/** `listeners[0]: missing required key "name"` says nothing new next to `unknown key "nmae" (did you mean "name"?)`. */
function withoutRedundant(findings: readonly Finding[]): Finding[] {
  const suggested = new Set(
    findings.filter((f) => f.suggestedKey !== undefined).map((f) => `${formatPath(f.path)}\u0000${f.suggestedKey}`),
  );
  return findings.filter((f) => f.missingKey === undefined || !suggested.has(`${formatPath(f.path)}\u0000${f.missingKey}`));
}

// =============================================================================================
// Step 1: YAML syntax
// =============================================================================================

function yamlIssues(doc: Document, text: string, lineCounter: LineCounter, file: string): PolicyIssue[] {
  return doc.errors.map((error) => {
    const { line, col } = lineCounter.linePos(error.pos[0]);
    const message =
      error.code === 'DUPLICATE_KEY'
        ? `duplicate key ${JSON.stringify(keyTextAt(text, error.pos[0]))} (a key may appear once per mapping)`
        : `invalid YAML: ${error.message}`;
    return { file, line, column: col, message };
  });
}

/** The key written at `offset` (`yaml` points at its first character only). */
function keyTextAt(text: string, offset: number): string {
  const rest = text.slice(offset);
  const key = /^("(?:[^"\\]|\\.)*"|'(?:[^']|'')*'|[^\n]*?)\s*:(?:\s|$)/.exec(rest)?.[1] ?? rest.split('\n')[0] ?? '';
  return key.replace(/^["']|["']$/g, '');
}

// =============================================================================================
// Step 2: the schema, with Ajv's errors turned into plain language
// =============================================================================================

/** Where `npm run build` writes the validator precompiled from the schema (write-schema.ts). */
export const PRECOMPILED_VALIDATOR = './policy-validator.cjs';

const requireHere = createRequire(import.meta.url);

/**
 * Once per process: the validator precompiled at build time, or, running from src/ as the
 * tests do, one compiled now from the TypeBox schema. Loading the schema only in that case
 * keeps TypeBox and the schema compile (a few hundred ms together) out of the sidecar's start.
 */
const validate: ValidateFunction = precompiledValidator() ?? (await compileFromSchema());

function precompiledValidator(): ValidateFunction | undefined {
  try {
    return requireHere(PRECOMPILED_VALIDATOR) as ValidateFunction;
  } catch {
    return undefined;
  }
}

async function compileFromSchema(): Promise<ValidateFunction> {
  const { policyJsonSchema } = await import('./schema.js');
  return createPolicyAjv().compile(policyJsonSchema());
}

/**
 * The one Ajv set-up, used at run time and by the build's precompilation. verbose: errors
 * carry the failing value and its schema node, whose `errorMessage` and property names make
 * the messages and "did you mean" hints. Ajv itself is loaded only when needed.
 */
export function createPolicyAjv(options: Options = {}): AjvInstance {
  const { Ajv } = requireHere('ajv') as typeof import('ajv');
  const ajv = new Ajv({ allErrors: true, strict: true, verbose: true, ...options });
  ajv.addKeyword({ keyword: 'errorMessage', schemaType: 'string' });
  return ajv;
}

function schemaFindings(data: unknown): Finding[] {
  if (data === null || data === undefined) {
    return [finding([], 'the file is empty; a policy needs at least version, listeners, upstreams and routes')];
  }
  if (!isPlainObject(data)) return [finding([], 'the policy must be a mapping with keys such as version, listeners, upstreams and routes')];
  if (validate(data)) return [];
  return collapseAlternatives(validate.errors ?? []).flatMap((error) => translate(error, data));
}

/**
 * With allErrors, an `anyOf` reports why each alternative failed and then that none matched.
 * Keep only the `anyOf` error (its schema's `errorMessage` names all the forms), but remember
 * the alternatives' allowed words for a "did you mean" hint.
 */
function collapseAlternatives(errors: readonly ErrorObject[]): ErrorObject[] {
  const alternatives = errors.filter((e) => e.keyword === 'anyOf' || e.keyword === 'oneOf').map((e) => e.schemaPath);
  const isBranchError = (e: ErrorObject): boolean => alternatives.some((p) => e.schemaPath.startsWith(`${p}/`));
  return errors
    .filter((e) => !isBranchError(e) && e.propertyName === undefined) // propertyName: inside propertyNames
    .map((e) => (alternatives.includes(e.schemaPath) ? { ...e, params: { allowed: branchWords(errors, e.schemaPath) } } : e));
}

function branchWords(errors: readonly ErrorObject[], anyOfPath: string): string[] {
  return errors
    .filter((e) => e.keyword === 'enum' && e.schemaPath.startsWith(`${anyOfPath}/`))
    .flatMap((e) => (e.params as { allowedValues: unknown[] }).allowedValues)
    .filter((v): v is string => typeof v === 'string');
}

function translate(error: ErrorObject, root: unknown): Finding[] {
  const path = pointerToPath(error.instancePath, root);
  switch (error.keyword) {
    case 'additionalProperties':
      return [unknownKey(path, error)];
    case 'required': {
      const key = (error.params as { missingProperty: string }).missingProperty;
      return [finding(path, `missing required key ${JSON.stringify(key)}`, { missingKey: key })];
    }
    case 'propertyNames': {
      const name = (error.params as { propertyName: string }).propertyName;
      const rule = errorMessageOf(error.schema) ?? 'is not allowed here';
      return [finding(path, `key ${JSON.stringify(name)} ${rule}`, { at: { path, key: name } })];
    }
    case 'uniqueItems': {
      const { i } = error.params as { i: number; j: number };
      const items = Array.isArray(error.data) ? error.data : [];
      return [finding(path, `lists ${JSON.stringify(items[i])} more than once`, { at: { path: [...path, i] } })];
    }
    default:
      return [finding(path, mismatch(error))];
  }
}

function unknownKey(path: PolicyPath, error: ErrorObject): Finding {
  const key = (error.params as { additionalProperty: string }).additionalProperty;
  const known = Object.keys(propertiesOf(error.parentSchema));
  const suggestion = didYouMean(key, known);
  const hint = suggestion === undefined ? '' : ` (did you mean ${JSON.stringify(suggestion)}?)`;
  return finding(path, `unknown key ${JSON.stringify(key)}${hint}`, {
    at: { path, key },
    ...(suggestion === undefined ? {} : { suggestedKey: suggestion }),
  });
}

/** The message for a value of the wrong type, form or range. */
function mismatch(error: ErrorObject): string {
  const value = error.data;
  const custom = errorMessageOf(error.parentSchema);
  const pattern = patternOf(error.parentSchema);
  if (pattern === ENDPOINT_PATTERN && typeof value === 'string' && /^https:\/\//i.test(value)) {
    return `${JSON.stringify(value)} uses https://, but TLS origination is not supported in v1; use an http:// endpoint`;
  }
  const base = custom ?? standardMessage(error);
  if (error.keyword === 'type' && value === null) return `is empty, but ${base}`;
  return `${base}${unitHint(pattern, value)}${quoteHint(error, custom, value)}${wordHint(error, value)}`;
}

function standardMessage(error: ErrorObject): string {
  const params = error.params as Record<string, unknown>;
  switch (error.keyword) {
    case 'type':
      return `must be ${TYPE_WORDS[String(params.type)] ?? String(params.type)}`;
    case 'enum':
      return `must be one of ${listOf((params.allowedValues as unknown[]).map(String), 'or')}`;
    case 'const':
      return `must be ${JSON.stringify(params.allowedValue)}`;
    case 'minItems':
      return params.limit === 1 ? 'must not be empty' : `must have at least ${String(params.limit)} items`;
    case 'minLength':
    case 'minProperties':
      return 'must not be empty';
    case 'pattern':
      return `must match ${String(params.pattern)}`;
    default:
      return error.message ?? 'is not valid';
  }
}

const TYPE_WORDS: Readonly<Record<string, string>> = {
  object: 'a mapping (key: value)',
  array: 'a list',
  string: 'a string',
  number: 'a number',
  integer: 'a whole number',
  boolean: 'true or false',
};

/** `timeout: 2` → add a unit. */
function unitHint(pattern: string | undefined, value: unknown): string {
  const wantsDuration = pattern === DURATION_PATTERN || pattern === POSITIVE_DURATION_PATTERN;
  return wantsDuration && typeof value === 'number' ? ` (add a unit: "${value}s" or "${value}ms")` : '';
}

/** `x-canary: 1` under match.headers → the value must be quoted to be a string. */
function quoteHint(error: ErrorObject, custom: string | undefined, value: unknown): string {
  const wantsString = error.keyword === 'type' && (error.params as { type: string }).type === 'string';
  const scalar = typeof value === 'number' || typeof value === 'boolean';
  return wantsString && scalar && custom === undefined ? ` (quote it: "${String(value)}")` : '';
}

/** `balance: least-requests` → (did you mean "least-request"?); `on: ["503"]` → unquote it. */
function wordHint(error: ErrorObject, value: unknown): string {
  if (typeof value !== 'string') return '';
  if (error.keyword === 'anyOf' && /^[0-9]+$/.test(value)) return ` (write the status code without quotes: ${value})`;
  const params = error.params as { allowedValues?: unknown[]; allowed?: string[] };
  const words = (params.allowedValues ?? params.allowed ?? []).filter((v): v is string => typeof v === 'string');
  return hintFor(value, words);
}

function errorMessageOf(schema: unknown): string | undefined {
  return isPlainObject(schema) && typeof schema.errorMessage === 'string' ? schema.errorMessage : undefined;
}

function patternOf(schema: unknown): string | undefined {
  return isPlainObject(schema) && typeof schema.pattern === 'string' ? schema.pattern : undefined;
}

function propertiesOf(schema: unknown): Record<string, unknown> {
  return isPlainObject(schema) && isPlainObject(schema.properties) ? schema.properties : {};
}

/** `/routes/1/retry` → ['routes', 1, 'retry'], with numbers where the data has a list. */
function pointerToPath(pointer: string, root: unknown): PolicyPath {
  if (pointer === '') return [];
  const path: (string | number)[] = [];
  let node = root;
  for (const raw of pointer.slice(1).split('/')) {
    const segment = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    const index = Array.isArray(node) ? Number(segment) : undefined;
    path.push(index ?? segment);
    node = index === undefined ? (isPlainObject(node) ? node[segment] : undefined) : (node as unknown[])[index];
  }
  return path;
}

// =============================================================================================
// Step 3: cross-references and rules across keys
// =============================================================================================

/** Defined names; undefined when the section itself is malformed (then no reference is judged). */
interface Names {
  readonly listeners: readonly string[] | undefined;
  readonly upstreams: readonly string[] | undefined;
}

function crossReferenceFindings(data: unknown): Finding[] {
  if (!isPlainObject(data)) return [];
  const names: Names = {
    listeners: Array.isArray(data.listeners) ? data.listeners.flatMap((l) => optionalText(record(l).name)) : undefined,
    upstreams: isPlainObject(data.upstreams) ? Object.keys(data.upstreams) : undefined,
  };
  return [...listenerFindings(data), ...endpointFindings(data), ...defaultsFindings(data, names), ...routeFindings(data, names)];
}

// --- listeners and addresses -----------------------------------------------------------------

function listenerFindings(data: Record<string, unknown>): Finding[] {
  return [...duplicateNames(list(data.listeners), ['listeners'], 'listener'), ...addressFindings(data)];
}

interface BoundAddress {
  readonly path: PolicyPath;
  readonly label: string;
  readonly text: string;
  readonly note?: string;
}

/** Ports in range, and no two sockets on one port (a wildcard host overlaps every host). */
function addressFindings(data: Record<string, unknown>): Finding[] {
  const adminText = optionalText(record(data.admin).address)[0];
  const admin: BoundAddress = adminText === undefined
    ? { path: ['admin'], label: 'the admin server', text: DEFAULTS.admin.address, note: ', the default; set admin.address to move it' }
    : { path: ['admin', 'address'], label: 'admin.address', text: adminText };
  const listeners = list(data.listeners).flatMap((listener, i): BoundAddress[] =>
    optionalText(record(listener).address).map((text) => ({ path: ['listeners', i, 'address'], label: `listeners[${i}]`, text })),
  );
  const valid = [admin, ...listeners].filter((a) => ADDRESS.test(a.text));
  const findings = valid.filter((a) => a.path.length > 1).flatMap((a) => portRange(a.path, parseHostPort(a.text).port, 0));
  valid.forEach((later, i) => {
    const earlier = valid.slice(0, i).find((other) => overlaps(other.text, later.text));
    if (earlier !== undefined) {
      const where = `${earlier.text}${earlier.note ?? ''}`;
      findings.push(finding(later.path, `port ${parseHostPort(later.text).port} is already taken by ${earlier.label} (${where})`));
    }
  });
  return findings;
}

const ADDRESS = new RegExp(ADDRESS_PATTERN);
const WILDCARD_HOSTS = new Set(['0.0.0.0', '::', '']);

function overlaps(a: string, b: string): boolean {
  const x = parseHostPort(a);
  const y = parseHostPort(b);
  // Port 0 asks the OS for a free port, so two of them never collide (tests use it everywhere).
  if (x.port !== y.port || x.port === 0) return false;
  return x.host.toLowerCase() === y.host.toLowerCase() || WILDCARD_HOSTS.has(x.host) || WILDCARD_HOSTS.has(y.host);
}

function portRange(path: PolicyPath, port: number, lowest: number): Finding[] {
  return port >= lowest && port <= 65535 ? [] : [finding(path, `port ${port} is out of range (${lowest}-65535)`)];
}

const ENDPOINT = new RegExp(ENDPOINT_PATTERN);

function endpointFindings(data: Record<string, unknown>): Finding[] {
  return Object.entries(record(data.upstreams)).flatMap(([name, upstream]) =>
    list(record(upstream).endpoints).flatMap((url, i) => {
      if (typeof url !== 'string' || !ENDPOINT.test(url)) return [];
      const port = new URL(url).port;
      return port === '' ? [] : portRange(['upstreams', name, 'endpoints', i], Number(port), 1);
    }),
  );
}

// --- defaults ----------------------------------------------------------------------------------

function defaultsFindings(data: Record<string, unknown>, names: Names): Finding[] {
  const defaults = record(data.defaults);
  return [
    ...reference(['defaults', 'upstream'], defaults.upstream, 'upstream', names.upstreams),
    ...reference(['defaults', 'shadow', 'upstream'], record(defaults.shadow).upstream, 'upstream', names.upstreams),
  ];
}

// --- routes ------------------------------------------------------------------------------------

function routeFindings(data: Record<string, unknown>, names: Names): Finding[] {
  const routes = list(data.routes);
  return [
    ...duplicateNames(routes, ['routes'], 'route'),
    ...routes.flatMap((route, i) => {
      const path = ['routes', i];
      const own = record(route);
      return [
        ...ownReferences(path, own, names),
        ...matchFindings([...path, 'match'], record(own.match)),
        ...scatterFindings(path, own, names),
        ...mergedRouteFindings(path, mergeRouteDefaults(own, data.defaults), own),
      ];
    }),
  ];
}

function ownReferences(path: PolicyPath, route: Record<string, unknown>, names: Names): Finding[] {
  // A scatter route's own upstream is already an error of its own (scatterFindings).
  const upstream = route.scatterGather === undefined ? route.upstream : undefined;
  return [
    ...reference([...path, 'listener'], route.listener, 'listener', names.listeners),
    ...reference([...path, 'upstream'], upstream, 'upstream', names.upstreams),
    ...reference([...path, 'shadow', 'upstream'], record(route.shadow).upstream, 'upstream', names.upstreams),
  ];
}

const PATH_KEYS = ['path', 'pathPrefix', 'pathRegex'] as const;

function matchFindings(path: PolicyPath, match: Record<string, unknown>): Finding[] {
  const findings: Finding[] = [];
  const given = PATH_KEYS.filter((key) => match[key] !== undefined);
  if (given.length > 1) findings.push(finding(path, `give at most one of path, pathPrefix and pathRegex (found ${listOf(given, 'and')})`));
  if (typeof match.pathRegex === 'string') {
    const problem = regexProblem(match.pathRegex);
    if (problem !== undefined) findings.push(finding([...path, 'pathRegex'], `is not a valid regular expression: ${problem}`));
  }
  return findings;
}

function regexProblem(source: string): string | undefined {
  try {
    new RegExp(source);
    return undefined;
  } catch (err) {
    return (err instanceof Error ? err.message : String(err)).replace(/^Invalid regular expression: /, '');
  }
}

const TEMPLATE_PLACEHOLDERS = ['path', 'suffix', 'query'];

function scatterFindings(path: PolicyPath, route: Record<string, unknown>, names: Names): Finding[] {
  if (route.scatterGather === undefined) return [];
  const scatterPath = [...path, 'scatterGather'];
  const scatter = record(route.scatterGather);
  const targets = list(scatter.targets);
  return [
    ...SCATTER_EXCLUDED_KEYS.filter((key) => route[key] !== undefined).map((key) =>
      finding([...path, key], 'a scatterGather route takes no upstream, retry or hedge', { at: { path, key } }),
    ),
    ...duplicateNames(targets, [...scatterPath, 'targets'], 'target'),
    ...targets.flatMap((target, i) => targetFindings([...scatterPath, 'targets', i], record(target), names)),
    ...quorumFindings(scatterPath, scatter.require, targets.length),
    ...concatFindings(scatterPath, scatter),
  ];
}

function targetFindings(path: PolicyPath, target: Record<string, unknown>, names: Names): Finding[] {
  const findings = reference([...path, 'upstream'], target.upstream, 'upstream', names.upstreams);
  if (typeof target.path === 'string') {
    for (const [, placeholder = ''] of target.path.matchAll(/\{([^}]*)\}/g)) {
      if (TEMPLATE_PLACEHOLDERS.includes(placeholder)) continue;
      const hint = hintFor(placeholder, TEMPLATE_PLACEHOLDERS);
      findings.push(finding([...path, 'path'], `unknown placeholder {${placeholder}}${hint}; use {path}, {suffix} or {query}`));
    }
  }
  return findings;
}

function quorumFindings(path: PolicyPath, required: unknown, targetCount: number): Finding[] {
  if (typeof required !== 'number' || targetCount === 0 || required <= targetCount) return [];
  return [finding([...path, 'require'], `must be at most ${targetCount}, the number of targets`)];
}

function concatFindings(path: PolicyPath, scatter: Record<string, unknown>): Finding[] {
  const isConcat = scatter.aggregate === 'concat';
  if (scatter.concat !== undefined && !isConcat) {
    const aggregate = typeof scatter.aggregate === 'string' ? scatter.aggregate : `${DEFAULTS.scatterGather.aggregate}, the default`;
    return [finding([...path, 'concat'], `is only used with aggregate: concat (this route aggregates by ${aggregate})`, { at: { path, key: 'concat' } })];
  }
  if (isConcat && scatter.concat === undefined) {
    return [finding(path, 'aggregate: concat needs a concat block naming the field to join, e.g. concat: { field: hits }', { missingKey: 'concat' })];
  }
  return [];
}

/**
 * Rules that hold only for the route as it runs, with `defaults` merged in. A problem that
 * comes from the defaults block is reported there (once), not at every route inheriting it.
 */
function mergedRouteFindings(path: PolicyPath, merged: Record<string, unknown>, own: Record<string, unknown>): Finding[] {
  const findings: Finding[] = [];
  if (merged.scatterGather === undefined && merged.upstream === undefined) {
    findings.push(finding(path, 'missing "upstream" (every route needs one, given here or in defaults, unless it has scatterGather)', { missingKey: 'upstream' }));
  }
  const hedge = merged.hedge;
  if (isPlainObject(hedge) && hedge.delay === undefined) findings.push(requiredInBlock(path, own, 'hedge', 'delay'));
  const shadow = merged.shadow;
  if (isPlainObject(shadow) && shadow.upstream === undefined) findings.push(requiredInBlock(path, own, 'shadow', 'upstream'));
  findings.push(...backoffFindings(path, merged, own));
  return findings;
}

function requiredInBlock(routePath: PolicyPath, own: Record<string, unknown>, block: string, key: string): Finding {
  const message = `missing required key ${JSON.stringify(key)}`;
  if (isPlainObject(own[block])) return finding([...routePath, block], message, { missingKey: key });
  return finding(['defaults', block], `${message} (routes without a ${block} block of their own inherit this one)`);
}

function backoffFindings(routePath: PolicyPath, merged: Record<string, unknown>, own: Record<string, unknown>): Finding[] {
  if (!isPlainObject(merged.retry)) return [];
  const backoff = record(merged.retry.backoff);
  const base = backoff.base ?? DEFAULTS.retry.backoff.base;
  const max = backoff.max ?? DEFAULTS.retry.backoff.max;
  const baseMs = durationMs(base);
  const maxMs = durationMs(max);
  if (baseMs === undefined || maxMs === undefined || maxMs >= baseMs) return [];
  const path = isPlainObject(record(own.retry).backoff) ? [...routePath, 'retry', 'backoff'] : ['defaults', 'retry', 'backoff'];
  return [finding(path, `max (${String(max)}) must not be below base (${String(base)})`)];
}

// --- shared rules --------------------------------------------------------------------------------

function reference(path: PolicyPath, value: unknown, kind: string, known: readonly string[] | undefined): Finding[] {
  if (known === undefined || typeof value !== 'string' || value === '' || known.includes(value)) return [];
  return [finding(path, `unknown ${kind} ${JSON.stringify(value)}${hintFor(value, known)}${knownList(kind, known)}`)];
}

function knownList(kind: string, known: readonly string[]): string {
  const distinct = [...new Set(known)];
  if (distinct.length === 0) return `; no ${kind}s are defined`;
  return distinct.length <= 5 ? `; defined: ${distinct.join(', ')}` : '';
}

function duplicateNames(items: readonly unknown[], path: PolicyPath, kind: string): Finding[] {
  const firstIndex = new Map<string, number>();
  const findings: Finding[] = [];
  items.forEach((item, i) => {
    const name = record(item).name;
    if (typeof name !== 'string') return;
    const first = firstIndex.get(name);
    if (first === undefined) firstIndex.set(name, i);
    else findings.push(finding([...path, i, 'name'], `duplicate ${kind} name ${JSON.stringify(name)} (first used by ${formatPath([...path, first])})`));
  });
  return findings;
}

// --- reading a document that may not have the right shape ----------------------------------------

function record(value: unknown): Record<string, unknown> {
  return isPlainObject(value) ? value : {};
}

function list(value: unknown): readonly unknown[] {
  return Array.isArray(value) ? value : [];
}

function optionalText(value: unknown): string[] {
  return typeof value === 'string' ? [value] : [];
}

function durationMs(value: unknown): number | undefined {
  return typeof value === 'string' && isDuration(value) ? parseDurationMs(value) : undefined;
}

function listOf(values: readonly string[], conjunction: 'and' | 'or'): string {
  return values.length <= 1 ? values.join('') : `${values.slice(0, -1).join(', ')} ${conjunction} ${values[values.length - 1]}`;
}
