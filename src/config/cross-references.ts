/**
 * Step 3 of loading a policy (load.ts): what a schema cannot say. Names that must exist or be
 * unique, regexes that must compile, keys that exclude each other, keys only required once
 * `defaults` is merged in. Values of the wrong type are skipped (the schema step reports them).
 */
import { readFileSync } from 'node:fs';
import { didYouMean, hintFor } from './did-you-mean.js';
import { formatPath, type PolicyPath } from './locate.js';
import { isPlainObject, mergeRouteDefaults, parseHostPort, SCATTER_EXCLUDED_KEYS } from './normalize.js';
import { ADDRESS_PATTERN, DEFAULTS, ENDPOINT_PATTERN } from './defaults.js';
import { isDuration, parseDurationMs } from '../util/units.js';

import { finding, listOf, type Finding } from './findings.js';

// =============================================================================================
// Step 3: cross-references and rules across keys
// =============================================================================================

/** Defined names; undefined when the section itself is malformed (then no reference is judged). */
interface Names {
  readonly listeners: readonly string[] | undefined;
  readonly upstreams: readonly string[] | undefined;
}

export function crossReferenceFindings(data: unknown): Finding[] {
  if (!isPlainObject(data)) return [];
  const names: Names = {
    listeners: Array.isArray(data.listeners) ? data.listeners.flatMap((l) => optionalText(record(l).name)) : undefined,
    upstreams: isPlainObject(data.upstreams) ? Object.keys(data.upstreams) : undefined,
  };
  return [...listenerFindings(data), ...endpointFindings(data), ...discoveryFindings(data), ...tlsFindings(data), ...passthroughFindings(data), ...protocolFindings(data), ...defaultsFindings(data, names), ...routeFindings(data, names)];
}

// --- unrouted: passthrough ------------------------------------------------------------------------

/**
 * Unrouted requests are recorded under route `passthrough` (metrics, access log, /status), so
 * no route of a policy that passes requests through may carry that name: the two would mix.
 */
function passthroughFindings(data: Record<string, unknown>): Finding[] {
  if (!list(data.listeners).some((l) => record(l).unrouted === 'passthrough')) return [];
  return list(data.routes).flatMap((route, i) =>
    record(route).name === 'passthrough' ? [finding(['routes', i, 'name'], 'the name passthrough is taken by the requests a listener with unrouted: passthrough forwards; pick another')] : [],
  );
}

// --- upstream protocols ------------------------------------------------------------------------

/** h2 is HTTP/2 over TLS (https:// endpoints); h2c is HTTP/2 without it (http:// endpoints). */
function protocolFindings(data: Record<string, unknown>): Finding[] {
  const findings: Finding[] = [];
  for (const [name, u] of Object.entries(record(data.upstreams))) {
    const upstream = record(u);
    const protocol = upstream.protocol;
    if (protocol !== 'h2' && protocol !== 'h2c') continue;
    const wanted = protocol === 'h2' ? 'https://' : 'http://';
    list(upstream.endpoints).forEach((e, i) => {
      if (typeof e === 'string' && !e.toLowerCase().startsWith(wanted)) {
        const hint = protocol === 'h2' ? 'h2 is HTTP/2 over TLS: use https:// endpoints, or protocol h2c for HTTP/2 without TLS' : 'h2c is HTTP/2 without TLS: use http:// endpoints, or protocol h2 for HTTP/2 over TLS';
        findings.push(finding(['upstreams', name, 'endpoints', i], hint));
      }
    });
  }
  return findings;
}

// --- where an upstream's endpoints come from ---------------------------------------------------

/**
 * Exactly one of `endpoints` and `kubernetes`. Discovered pods are https:// when the upstream
 * has a `tls` block, so h2 (TLS) needs one and h2c (no TLS) must not have one.
 */
function discoveryFindings(data: Record<string, unknown>): Finding[] {
  const findings: Finding[] = [];
  for (const [name, u] of Object.entries(record(data.upstreams))) {
    const upstream = record(u);
    const path = ['upstreams', name];
    if (upstream.endpoints !== undefined && upstream.kubernetes !== undefined) {
      findings.push(finding([...path, 'kubernetes'], 'give either endpoints or kubernetes, not both', { at: { path, key: 'kubernetes' } }));
    } else if (upstream.endpoints === undefined && upstream.kubernetes === undefined && isPlainObject(u)) {
      // A misspelt `kubernetes` already gets "did you mean"; this finding then says nothing new.
      const typo = Object.keys(upstream).some((key) => didYouMean(key, ['kubernetes']) !== undefined);
      findings.push(finding(path, 'missing "endpoints" (or "kubernetes", to discover the pods of a Service)', { missingKey: typo ? 'kubernetes' : 'endpoints' }));
    }
    if (upstream.kubernetes === undefined) continue;
    if (upstream.protocol === 'h2' && upstream.tls === undefined) {
      findings.push(finding([...path, 'protocol'], 'h2 is HTTP/2 over TLS: give a tls block (discovered pods are then called over https://), or use protocol h2c'));
    }
    if (upstream.protocol === 'h2c' && upstream.tls !== undefined) {
      findings.push(finding([...path, 'tls'], 'h2c is HTTP/2 without TLS, but a tls block makes discovered pods https://: drop it, or use protocol h2', { at: { path, key: 'tls' } }));
    }
  }
  return findings;
}

// --- TLS files ---------------------------------------------------------------------------------

/** Each TLS file named must be readable PEM, and a certificate comes with its key. */
function tlsFindings(data: Record<string, unknown>): Finding[] {
  const blocks: [PolicyPath, Record<string, unknown>][] = [
    ...Object.entries(record(data.upstreams)).map(([name, u]): [PolicyPath, Record<string, unknown>] => [['upstreams', name, 'tls'], record(record(u).tls)]),
    ...list(data.listeners).map((l, i): [PolicyPath, Record<string, unknown>] => [['listeners', i, 'tls'], record(record(l).tls)]),
  ];
  const findings: Finding[] = [];
  for (const [path, tls] of blocks) {
    for (const key of ['ca', 'cert', 'key', 'clientCa']) {
      const file = tls[key];
      if (typeof file !== 'string') continue;
      const problem = pemProblem(file);
      if (problem !== undefined) findings.push(finding([...path, key], problem));
    }
    if ((typeof tls.cert === 'string') !== (typeof tls.key === 'string')) findings.push(finding(path, 'give cert and key together'));
  }
  return findings;
}

function pemProblem(file: string): string | undefined {
  try {
    return readFileSync(file, 'latin1').includes('-----BEGIN ') ? undefined : `${file} is not a PEM file`;
  } catch (err) {
    return `cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`;
  }
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
  const contentType = record(record(record(route.match).headers))['content-type'];
  const grpcOnly = typeof contentType === 'string' && /^application\/grpc(\+|;|$)/i.test(contentType);
  return [
    ...(grpcOnly ? [finding([...path, 'match', 'headers', 'content-type'], 'a scatterGather route merges JSON answers and cannot honour gRPC calls: send them to a route with an upstream')] : []),
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
