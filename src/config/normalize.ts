/**
 * Turns a validated policy document into the normalized `Policy` the data path reads
 * (types.ts): `defaults` merged under each route, built-in defaults filled in, units converted
 * (`…Ms`, `…Bytes`, ratios 0-1), names canonicalized, and the whole result deep-frozen.
 *
 * Everything here assumes load.ts has already validated the document (schema and
 * cross-reference checks), so it converts without re-checking; a value it cannot convert is a
 * bug, not user input, and throws.
 */
import { parseDurationMs, parsePercentile, parseSizeBytes } from '../util/units.js';
import { DEFAULTS } from './defaults.js';
import type { DefaultsDocument, PolicyDocument, RouteDocument, UpstreamDocument } from './schema.js';
import type {
  BulkheadPolicy,
  CircuitBreakerPolicy,
  EndpointUrl,
  FailureCondition,
  HedgeDelay,
  HedgePolicy,
  HostPort,
  PartitionKey,
  Policy,
  RetryPolicy,
  RouteMatch,
  RoutePolicy,
  ScatterGatherPolicy,
  ScatterRequire,
  ScatterTarget,
  ShadowPolicy,
  UpstreamPolicy,
} from './types.js';

type RetryDocument = NonNullable<RouteDocument['retry']>;
type HedgeDocument = NonNullable<RouteDocument['hedge']>;
type BreakerDocument = NonNullable<RouteDocument['circuitBreaker']>;
type BulkheadDocument = NonNullable<RouteDocument['bulkhead']>;
type ShadowDocument = NonNullable<RouteDocument['shadow']>;
type MatchDocument = NonNullable<RouteDocument['match']>;
type ScatterDocument = NonNullable<RouteDocument['scatterGather']>;

/** Keys a scatterGather route must not have; when they come from `defaults` they are dropped. */
export const SCATTER_EXCLUDED_KEYS = ['upstream', 'retry', 'hedge'] as const;

export function normalizePolicy(doc: PolicyDocument, source: unknown): Policy {
  const policy: Policy = {
    version: 1,
    admin: { address: parseHostPort(doc.admin?.address ?? DEFAULTS.admin.address) },
    drainTimeoutMs: parseDurationMs(doc.drainTimeout ?? DEFAULTS.drainTimeout),
    replayBodyLimitBytes: parseSizeBytes(doc.replayBodyLimit ?? DEFAULTS.replayBodyLimit),
    accessLog: doc.accessLog ?? DEFAULTS.accessLog,
    listeners: doc.listeners.map((listener) => ({
      name: listener.name,
      address: parseHostPort(listener.address),
      connectAllow: (listener.connect?.allow ?? []).map((target) => target.toLowerCase()),
      protocols: listener.protocols ?? ['http1', 'h2c'],
      unrouted: listener.unrouted ?? 'reject',
      tls: listener.tls === undefined ? undefined : { certFile: listener.tls.cert, keyFile: listener.tls.key, clientCaFile: listener.tls.clientCa },
    })),
    upstreams: new FrozenMap(Object.entries(doc.upstreams).map(([name, upstream]) => [name, normalizeUpstream(name, upstream)])),
    routes: doc.routes.map((route, index) => normalizeRoute(withDefaults(route, doc.defaults), index)),
    passthrough: {
      timeoutMs: parseDurationMs(doc.defaults?.timeout ?? DEFAULTS.route.timeout),
      idleTimeoutMs: parseDurationMs(doc.defaults?.idleTimeout ?? DEFAULTS.route.idleTimeout),
    },
    source,
  };
  return deepFreeze(policy);
}

// ---------------------------------------------------------------------------------------------
// defaults: merged under each route
// ---------------------------------------------------------------------------------------------

/**
 * The route as if `defaults` had been written into it: per policy block, deeply, the route's
 * own keys winning and lists replacing (not concatenating), so a route that lists `on: [503]`
 * means exactly that. A scatterGather route takes no upstream, retry or hedge, so it does not
 * inherit them either: a catch-all `defaults.retry` must not make every scatter route invalid.
 */
export function withDefaults(route: RouteDocument, defaults: DefaultsDocument | undefined): RouteDocument {
  // The schema allows the same blocks in both places, so the merge of two valid parts has the
  // route's shape; the keys that only become required after merging are checked by load.ts.
  return mergeRouteDefaults(route, defaults) as RouteDocument;
}

/** `withDefaults` for documents not yet known to be valid (load.ts checks the merged route). */
export function mergeRouteDefaults(route: Readonly<Record<string, unknown>>, defaults: unknown): Record<string, unknown> {
  if (!isPlainObject(defaults)) return { ...route };
  const inherited = { ...defaults };
  if (route.scatterGather !== undefined) for (const key of SCATTER_EXCLUDED_KEYS) delete inherited[key];
  return deepMerge(inherited, route) as Record<string, unknown>;
}

/** Objects merge key by key, recursively; anything else (lists, scalars) from `override` wins. */
export function deepMerge(base: unknown, override: unknown): unknown {
  if (override === undefined) return base;
  if (!isPlainObject(base) || !isPlainObject(override)) return override;
  const merged: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(override)) merged[key] = deepMerge(base[key], value);
  return merged;
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

// ---------------------------------------------------------------------------------------------
// Addresses and endpoints
// ---------------------------------------------------------------------------------------------

/** `127.0.0.1:15001` → { host: '127.0.0.1', port: 15001 }; `[::1]:15001` → { host: '::1', … }. */
export function parseHostPort(text: string): HostPort {
  const colon = text.lastIndexOf(':');
  const host = text.slice(0, colon);
  return { host: stripBrackets(host), port: Number(text.slice(colon + 1)) };
}

/** `http://10.0.0.11:8080` → origin, host and port (80 when omitted). Only http:// (no TLS in v1). */
export function parseEndpoint(text: string): EndpointUrl {
  const url = new URL(text);
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new RangeError(`not an http:// or https:// endpoint: ${text}`);
  const port = url.port === '' ? (url.protocol === 'https:' ? 443 : 80) : Number(url.port);
  return { origin: url.origin, host: stripBrackets(url.hostname), port };
}

function stripBrackets(host: string): string {
  return host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
}

function normalizeUpstream(name: string, upstream: UpstreamDocument): UpstreamPolicy {
  const outlier = upstream.outlier;
  return {
    name,
    endpoints: (upstream.endpoints ?? []).map(parseEndpoint),
    kubernetes:
      upstream.kubernetes === undefined
        ? undefined
        : { service: upstream.kubernetes.service, namespace: upstream.kubernetes.namespace, port: upstream.kubernetes.port },
    balance: upstream.balance ?? DEFAULTS.upstream.balance,
    connections: upstream.connections ?? DEFAULTS.upstream.connections,
    connectTimeoutMs: parseDurationMs(upstream.connectTimeout ?? DEFAULTS.upstream.connectTimeout),
    idleTimeoutMs: parseDurationMs(upstream.idleTimeout ?? DEFAULTS.upstream.idleTimeout),
    maxResponseHeaderBytes: parseSizeBytes(upstream.maxResponseHeaderSize ?? DEFAULTS.upstream.maxResponseHeaderSize),
    protocol: upstream.protocol ?? 'http1',
    tls:
      upstream.tls === undefined
        ? undefined
        : { caFile: upstream.tls.ca, serverName: upstream.tls.serverName, certFile: upstream.tls.cert, keyFile: upstream.tls.key },
    outlier:
      outlier === undefined
        ? undefined
        : {
            consecutiveFailures: outlier.consecutiveFailures ?? DEFAULTS.outlier.consecutiveFailures,
            ejectForMs: parseDurationMs(outlier.ejectFor ?? DEFAULTS.outlier.ejectFor),
            maxEjectedRatio: (outlier.maxEjectedPercent ?? DEFAULTS.outlier.maxEjectedPercent) / 100,
          },
  };
}

// ---------------------------------------------------------------------------------------------
// Routes
// ---------------------------------------------------------------------------------------------

function normalizeRoute(route: RouteDocument, index: number): RoutePolicy {
  const scatter = route.scatterGather;
  return {
    name: route.name,
    index,
    listener: route.listener,
    match: normalizeMatch(route.match ?? {}),
    upstream: scatter === undefined ? route.upstream : undefined,
    timeoutMs: parseDurationMs(route.timeout ?? DEFAULTS.route.timeout),
    idleTimeoutMs: parseDurationMs(route.idleTimeout ?? DEFAULTS.route.idleTimeout),
    retry: scatter === undefined ? optional(route.retry, normalizeRetry) : undefined,
    hedge: scatter === undefined ? optional(route.hedge, normalizeHedge) : undefined,
    circuitBreaker: optional(route.circuitBreaker, normalizeCircuitBreaker),
    bulkhead: optional(route.bulkhead, normalizeBulkhead),
    shadow: optional(route.shadow, normalizeShadow),
    scatterGather: optional(scatter, normalizeScatterGather),
  };
}

function optional<T, R>(block: T | undefined, normalize: (block: T) => R): R | undefined {
  return block === undefined ? undefined : normalize(block);
}

function normalizeMatch(match: MatchDocument): RouteMatch {
  return {
    // Compared with the request's host, which the router lower-cases and strips of brackets.
    host: match.host === undefined ? undefined : stripBrackets(match.host.toLowerCase()),
    path: match.path,
    pathPrefix: match.pathPrefix,
    pathRegex: match.pathRegex === undefined ? undefined : new RegExp(match.pathRegex),
    methods: match.methods?.map(upperCase),
    headers:
      match.headers === undefined
        ? undefined
        : new FrozenMap(Object.entries(match.headers).map(([name, value]) => [name.toLowerCase(), value])),
    clientIdentity: match.clientIdentity,
  };
}

function normalizeRetry(retry: RetryDocument): RetryPolicy {
  return {
    attempts: retry.attempts ?? DEFAULTS.retry.attempts,
    perTryTimeoutMs: optionalDeadlineMs(retry.perTryTimeout),
    on: (retry.on ?? DEFAULTS.retry.on).map((condition): FailureCondition => condition),
    backoff: {
      baseMs: parseDurationMs(retry.backoff?.base ?? DEFAULTS.retry.backoff.base),
      maxMs: parseDurationMs(retry.backoff?.max ?? DEFAULTS.retry.backoff.max),
    },
    budget: {
      ratio: retry.budget?.ratio ?? DEFAULTS.retry.budget.ratio,
      minPerSecond: retry.budget?.minPerSecond ?? DEFAULTS.retry.budget.minPerSecond,
    },
    methods: (retry.methods ?? DEFAULTS.retry.methods).map(upperCase),
  };
}

function normalizeHedge(hedge: HedgeDocument): HedgePolicy {
  if (hedge.delay === undefined) throw new RangeError('hedge.delay is required (load.ts checks it)');
  return {
    delay: parseHedgeDelay(hedge.delay),
    minDelayMs: parseDurationMs(hedge.minDelay ?? DEFAULTS.hedge.minDelay),
    maxAttempts: hedge.maxAttempts ?? DEFAULTS.hedge.maxAttempts,
    budget: { ratio: hedge.budget?.ratio ?? DEFAULTS.hedge.budget.ratio },
    methods: (hedge.methods ?? DEFAULTS.hedge.methods).map(upperCase),
  };
}

/** `p95` → the route's observed 95th percentile; `40ms` → a fixed delay. */
export function parseHedgeDelay(text: string): HedgeDelay {
  const percentile = parsePercentile(text);
  return percentile === undefined ? { kind: 'fixed', ms: parseDurationMs(text) } : { kind: 'percentile', percentile };
}

function normalizeCircuitBreaker(breaker: BreakerDocument): CircuitBreakerPolicy {
  const d = DEFAULTS.circuitBreaker;
  return {
    failureRatio: breaker.failureRatio ?? d.failureRatio,
    minRequests: breaker.minRequests ?? d.minRequests,
    windowMs: parseDurationMs(breaker.window ?? d.window),
    slowCallMs: optionalDeadlineMs(breaker.slowCall),
    openForMs: parseDurationMs(breaker.openFor ?? d.openFor),
    halfOpenRequests: breaker.halfOpenRequests ?? d.halfOpenRequests,
    failOn: [...(breaker.failOn ?? d.failOn)],
  };
}

function normalizeBulkhead(bulkhead: BulkheadDocument): BulkheadPolicy {
  const d = DEFAULTS.bulkhead;
  return {
    maxConcurrent: bulkhead.maxConcurrent ?? d.maxConcurrent,
    maxQueued: bulkhead.maxQueued ?? d.maxQueued,
    queueTimeoutMs: parseDurationMs(bulkhead.queueTimeout ?? d.queueTimeout),
    partitionBy: optional(bulkhead.partitionBy, parsePartitionKey),
  };
}

/** `header:X-Tenant-Id` → { kind: 'header', header: 'x-tenant-id' }; `client` → by client address. */
export function parsePartitionKey(text: string): PartitionKey {
  if (text === 'client') return { kind: 'client' };
  return { kind: 'header', header: text.slice('header:'.length).toLowerCase() };
}

function normalizeShadow(shadow: ShadowDocument): ShadowPolicy {
  if (shadow.upstream === undefined) throw new RangeError('shadow.upstream is required (load.ts checks it)');
  return {
    upstream: shadow.upstream,
    ratio: (shadow.percent ?? DEFAULTS.shadow.percent) / 100,
    compare:
      shadow.compare === undefined
        ? undefined
        : {
            ignore: [...(shadow.compare.ignore ?? DEFAULTS.shadow.compare.ignore)],
            noiseRatio: (shadow.compare.noise ?? DEFAULTS.shadow.compare.noise) / 100,
          },
  };
}

function normalizeScatterGather(scatter: ScatterDocument): ScatterGatherPolicy {
  const concat = scatter.concat;
  return {
    targets: scatter.targets.map(
      (target): ScatterTarget => ({
        name: target.name,
        upstream: target.upstream,
        path: target.path,
        timeoutMs: optionalDeadlineMs(target.timeout),
        allEndpoints: target.allEndpoints ?? DEFAULTS.scatterTarget.allEndpoints,
      }),
    ),
    require: parseScatterRequire(scatter.require ?? DEFAULTS.scatterGather.require),
    aggregate: scatter.aggregate ?? DEFAULTS.scatterGather.aggregate,
    concat:
      concat === undefined
        ? undefined
        : { field: concat.field, sortBy: concat.sortBy, order: concat.order ?? DEFAULTS.scatterGather.concat.order, limit: concat.limit },
  };
}

export function parseScatterRequire(value: 'all' | 'any' | number): ScatterRequire {
  return typeof value === 'number' ? { kind: 'quorum', count: value } : { kind: value };
}

/** Optional deadlines (perTryTimeout, slowCall, target timeout): omitted or `0s` both mean none. */
function optionalDeadlineMs(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const ms = parseDurationMs(text);
  return ms === 0 ? undefined : ms;
}

function upperCase(text: string): string {
  return text.toUpperCase();
}

// ---------------------------------------------------------------------------------------------
// Freezing
// ---------------------------------------------------------------------------------------------

/**
 * A Map that refuses changes once built, so a frozen Policy is immutable all the way down.
 * (Object.freeze does not stop Map#set, which writes to an internal slot.) It stays a real Map,
 * so `instanceof Map`, iteration and `new Map(frozen)` work as usual.
 */
export class FrozenMap<K, V> extends Map<K, V> implements ReadonlyMap<K, V> {
  constructor(entries: Iterable<readonly [K, V]>) {
    super();
    // super.set: this class's own set() refuses every change.
    for (const [key, value] of entries) super.set(key, value);
  }

  override set(_key: K, _value: V): this {
    throw new TypeError('Cannot change a frozen policy map');
  }

  override delete(_key: K): boolean {
    throw new TypeError('Cannot change a frozen policy map');
  }

  override clear(): void {
    throw new TypeError('Cannot change a frozen policy map');
  }
}

/** Freezes objects, arrays, RegExps and Map values recursively; returns the same value. */
export function deepFreeze<T>(value: T): T {
  if (typeof value !== 'object' || value === null || Object.isFrozen(value)) return value;
  Object.freeze(value);
  if (value instanceof Map) for (const item of value.values()) deepFreeze(item);
  for (const item of Object.values(value)) deepFreeze(item);
  return value;
}
