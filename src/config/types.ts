/**
 * The normalized policy: what the rest of the sidecar reads after `config/load.ts` has parsed,
 * validated, merged `defaults` into each route and converted units. Every value is final:
 * durations are milliseconds (`…Ms`), sizes are bytes (`…Bytes`), percentages are ratios 0-1.
 * Objects are deep-frozen; a reload produces a new Policy instead of changing this one.
 *
 * Key names copy the YAML keys (docs/policy.md) so a reader can go from file to code by name.
 */
import type { GrpcCondition } from '../grpc/status.js';

export interface Policy {
  readonly version: 1;
  readonly admin: AdminPolicy;
  readonly drainTimeoutMs: number;
  readonly replayBodyLimitBytes: number;
  readonly accessLog: 'stdout' | 'off';
  readonly listeners: readonly ListenerPolicy[];
  readonly upstreams: ReadonlyMap<string, UpstreamPolicy>;
  readonly routes: readonly RoutePolicy[];
  /** What `unrouted: passthrough` applies: the defaults' two clocks, nothing else (traffic.md, Listeners). */
  readonly passthrough: PassthroughPolicy;
  /** The document as written (anchors and merge keys resolved), for `/config`. */
  readonly source: unknown;
}

export interface PassthroughPolicy {
  readonly timeoutMs: number;
  readonly idleTimeoutMs: number;
}

export interface HostPort {
  readonly host: string;
  readonly port: number;
}

export interface AdminPolicy {
  readonly address: HostPort;
}

export interface ListenerPolicy {
  readonly name: string;
  readonly address: HostPort;
  /** CONNECT targets tunnelled (`host:port`, `*` for any); empty: every CONNECT is refused. */
  readonly connectAllow: readonly string[];
  /** TLS termination; undefined for plain HTTP. */
  readonly tls: ListenerTlsPolicy | undefined;
  /** Accepted on the one port: `h2c` is HTTP/2 (prior knowledge, or ALPN h2 on TLS). */
  readonly protocols: readonly ListenerProtocol[];
  /** A request no route matches: 404 no-route, or forwarded to its own authority. */
  readonly unrouted: 'reject' | 'passthrough';
}

export type ListenerProtocol = 'http1' | 'h2c';

/** How an upstream is spoken to (traffic.md, Upstreams `protocol`). */
export type UpstreamProtocol = 'http1' | 'h2c' | 'h2' | 'auto';

export interface ListenerTlsPolicy {
  readonly certFile: string;
  readonly keyFile: string;
  readonly clientCaFile: string | undefined;
}

export type BalanceAlgorithm = 'round-robin' | 'least-request' | 'random';

export interface EndpointUrl {
  /** `http://host:port` (or https://) exactly as undici wants an origin. */
  readonly origin: string;
  readonly host: string;
  readonly port: number;
  /** For an address resolved from a name: the name, which TLS expects in the certificate. */
  readonly tlsName?: string | undefined;
}

export interface OutlierPolicy {
  readonly consecutiveFailures: number;
  readonly ejectForMs: number;
  readonly maxEjectedRatio: number;
}

export interface UpstreamPolicy {
  readonly name: string;
  /**
   * One entry per endpoint; a single DNS name is re-resolved into several at run time. Empty
   * when `kubernetes` is given: then the endpoints are discovered at run time.
   */
  readonly endpoints: readonly EndpointUrl[];
  /** The Service whose ready pods are the endpoints (traffic.md, Upstreams `kubernetes`). */
  readonly kubernetes: KubernetesServicePolicy | undefined;
  readonly balance: BalanceAlgorithm;
  readonly connections: number;
  readonly connectTimeoutMs: number;
  /** How long an idle pooled connection is kept (undici keepAliveTimeout, and the cap on a server's Keep-Alive hint). */
  readonly idleTimeoutMs: number;
  /** Largest response header block accepted from this upstream; more is 502 upstream-reset. */
  readonly maxResponseHeaderBytes: number;
  /** TLS to https:// endpoints (file contents read at load). */
  readonly tls: UpstreamTlsPolicy | undefined;
  readonly protocol: UpstreamProtocol;
  readonly outlier: OutlierPolicy | undefined;
}

export interface KubernetesServicePolicy {
  readonly service: string;
  /** Undefined: the pod's own namespace, found when discovery starts (POD_NAMESPACE, else the service account's file). */
  readonly namespace: string | undefined;
  /** The Service port's name, or its number (mapped to its name by reading the Service). */
  readonly port: string | number;
}

export interface UpstreamTlsPolicy {
  readonly caFile: string | undefined;
  readonly serverName: string | undefined;
  readonly certFile: string | undefined;
  readonly keyFile: string | undefined;
}

export interface RouteMatch {
  readonly host: string | undefined;
  readonly path: string | undefined;
  readonly pathPrefix: string | undefined;
  readonly pathRegex: RegExp | undefined;
  readonly methods: readonly string[] | undefined;
  /** Lower-cased header name → exact value. */
  readonly headers: ReadonlyMap<string, string> | undefined;
  /** The verified client certificate's SPIFFE URI or CN, exactly. */
  readonly clientIdentity: string | undefined;
}

/**
 * A retry/failure condition. Status codes are numbers; the named classes follow the contract:
 * `5xx`, `gateway-error` (502, 503, 504), `connect-failure`, `reset`, `timeout`.
 */
export type FailureCondition = number | '5xx' | 'gateway-error' | 'connect-failure' | 'reset' | 'timeout' | GrpcCondition;

export interface RetryPolicy {
  readonly attempts: number;
  readonly perTryTimeoutMs: number | undefined;
  readonly on: readonly FailureCondition[];
  readonly backoff: { readonly baseMs: number; readonly maxMs: number };
  readonly budget: { readonly ratio: number; readonly minPerSecond: number };
  readonly methods: readonly string[];
}

/** `p95`-style delays keep the quantile (0-100); fixed delays keep milliseconds. */
export type HedgeDelay = { readonly kind: 'fixed'; readonly ms: number } | { readonly kind: 'percentile'; readonly percentile: number };

export interface HedgePolicy {
  readonly delay: HedgeDelay;
  readonly minDelayMs: number;
  readonly maxAttempts: number;
  readonly budget: { readonly ratio: number };
  readonly methods: readonly string[];
}

export type BreakerFailure = '5xx' | 'connect-failure' | 'reset' | 'timeout' | GrpcCondition;

export interface CircuitBreakerPolicy {
  readonly failureRatio: number;
  readonly minRequests: number;
  readonly windowMs: number;
  readonly slowCallMs: number | undefined;
  readonly openForMs: number;
  readonly halfOpenRequests: number;
  readonly failOn: readonly BreakerFailure[];
}

export type PartitionKey = { readonly kind: 'header'; readonly header: string } | { readonly kind: 'client' };

export interface BulkheadPolicy {
  readonly maxConcurrent: number;
  readonly maxQueued: number;
  readonly queueTimeoutMs: number;
  readonly partitionBy: PartitionKey | undefined;
}

export interface ShadowPolicy {
  readonly upstream: string;
  readonly ratio: number;
  readonly compare: { readonly ignore: readonly string[]; readonly noiseRatio: number } | undefined;
}

export interface ScatterTarget {
  readonly name: string;
  readonly upstream: string;
  /** Path template with `{path}`, `{suffix}`, `{query}`; undefined keeps the client's path. */
  readonly path: string | undefined;
  readonly timeoutMs: number | undefined;
  readonly allEndpoints: boolean;
}

export type ScatterRequire = { readonly kind: 'all' } | { readonly kind: 'any' } | { readonly kind: 'quorum'; readonly count: number };

export interface ScatterGatherPolicy {
  readonly targets: readonly ScatterTarget[];
  readonly require: ScatterRequire;
  readonly aggregate: 'group' | 'merge' | 'concat';
  readonly concat:
    | { readonly field: string; readonly sortBy: string | undefined; readonly order: 'asc' | 'desc'; readonly limit: number | undefined }
    | undefined;
}

export interface RoutePolicy {
  readonly name: string;
  /** Index in file order; first match wins. */
  readonly index: number;
  readonly listener: string | undefined;
  readonly match: RouteMatch;
  /** Undefined only on a scatter-gather route. */
  readonly upstream: string | undefined;
  /** Counted from the end of the request body; 0 means no deadline. */
  readonly timeoutMs: number;
  /** No bytes either way for this long ends the exchange; 0 means never. */
  readonly idleTimeoutMs: number;
  readonly retry: RetryPolicy | undefined;
  readonly hedge: HedgePolicy | undefined;
  readonly circuitBreaker: CircuitBreakerPolicy | undefined;
  readonly bulkhead: BulkheadPolicy | undefined;
  readonly shadow: ShadowPolicy | undefined;
  readonly scatterGather: ScatterGatherPolicy | undefined;
}

/** One problem found in a policy file, located for a `file:line:column: message` report. */
export interface PolicyIssue {
  readonly file: string;
  readonly line: number;
  readonly column: number;
  readonly message: string;
}

export type LoadResult = { readonly ok: true; readonly policy: Policy } | { readonly ok: false; readonly issues: readonly PolicyIssue[] };

export function formatIssue(issue: PolicyIssue): string {
  return `${issue.file}:${issue.line}:${issue.column}: ${issue.message}`;
}
