/**
 * One upstream at run time: its endpoints, each with a keep-alive undici Pool, and the
 * balancer that picks one per try. Kept in the state registry under its name and settings, so
 * a reload that leaves an upstream unchanged keeps its warm connections.
 */
import { readFileSync } from 'node:fs';
import type { EndpointUrl, KubernetesServicePolicy, UpstreamPolicy } from '../config/types.js';
import type { DiscoveryOptions, DiscoveryStatus, EndpointDiscovery } from '../kubernetes/discovery/types.js';
import type { TryOutcome } from '../pipeline/outcome.js';
import { systemClock, type Clock } from '../util/clock.js';
import { endpointPool, type EndpointPool } from './endpoint-pool.js';
import { createBalancer, type Balancer } from './balancer.js';
import { OutlierDetector, type OutlierTracked } from './outlier.js';
import { DNS_REFRESH_MS, needsResolution, resolveEndpoint } from './resolve.js';

export class Endpoint implements OutlierTracked {
  readonly origin: string;
  readonly pool: EndpointPool;
  inFlight = 0;
  /** False while ejected as an outlier. */
  available = true;
  consecutiveFailures = 0;
  ejections = 0;
  ejectedUntil = 0;

  constructor(url: EndpointUrl, policy: UpstreamPolicy) {
    this.origin = url.origin;
    const tls = url.origin.startsWith('https:') ? tlsOptions(policy.tls, url.tlsName) : {};
    this.pool = endpointPool(url.origin, policy, { timeout: policy.connectTimeoutMs, ...tls });
  }
}

export interface UpstreamEvents {
  onResolveError?(upstream: string, err: Error): void;
  onEject?(upstream: string, origin: string, forMs: number): void;
  /** Kubernetes discovery failed (once per outage; the last endpoints stay), and recovered. */
  onDiscoveryError?(upstream: string, err: Error): void;
  onDiscoveryRecovered?(upstream: string, endpoints: number): void;
}

/**
 * What tests and the sidecar may set: the clock, how (and how often) DNS names are resolved,
 * and Kubernetes discovery's tuning. The defaults are the real ones; tests pass their own so
 * that an answer can change between two refreshes without a DNS server.
 */
export interface UpstreamOptions {
  readonly clock?: Clock;
  readonly resolve?: (endpoint: EndpointUrl) => Promise<EndpointUrl[]>;
  readonly refreshMs?: number;
  readonly discovery?: DiscoveryOptions;
}

export class UpstreamRuntime {
  readonly name: string;
  readonly policy: UpstreamPolicy;
  endpoints: readonly Endpoint[];
  readonly #balancer: Balancer;
  readonly #outliers: OutlierDetector | undefined;
  readonly #resolve: (endpoint: EndpointUrl) => Promise<EndpointUrl[]>;
  readonly #refreshMs: number;
  #refreshTimer: NodeJS.Timeout | undefined;
  readonly #discoveryOptions: DiscoveryOptions;
  #discovery: EndpointDiscovery | undefined;
  #closed = false;
  #started = false;

  constructor(policy: UpstreamPolicy, events: UpstreamEvents = {}, options: UpstreamOptions = {}) {
    this.name = policy.name;
    this.policy = policy;
    this.#resolve = options.resolve ?? resolveEndpoint;
    this.#refreshMs = options.refreshMs ?? DNS_REFRESH_MS;
    const clock = options.clock ?? systemClock;
    this.#discoveryOptions = { clock, ...options.discovery };
    this.#balancer = createBalancer(policy.balance);
    this.#outliers =
      policy.outlier === undefined ? undefined : new OutlierDetector(policy.outlier, (origin, forMs) => events.onEject?.(policy.name, origin, forMs), clock);
    this.endpoints = needsResolution(policy.endpoints) ? [] : policy.endpoints.map((e) => new Endpoint(e, policy));
  }

  /**
   * Resolve a DNS-named endpoint now and then every DNS_REFRESH_MS (refreshMs), or start
   * Kubernetes discovery and wait for its first list (or first failure; bounded); no-op for
   * literal endpoints.
   */
  async start(events: UpstreamEvents = {}): Promise<void> {
    if (this.#started) return;
    const kubernetes = this.policy.kubernetes;
    if (kubernetes !== undefined) {
      this.#started = true;
      return this.#discover({ ...this.policy, kubernetes }, events);
    }
    if (!needsResolution(this.policy.endpoints)) return;
    this.#started = true;
    await this.#refresh(events);
    this.#refreshTimer = setInterval(() => void this.#refresh(events), this.#refreshMs);
    this.#refreshTimer.unref();
  }

  pick(avoid: readonly string[]): Endpoint | undefined {
    return this.#balancer.pick(this.endpoints, avoid);
  }

  /** How a try to `endpoint` went, for outlier ejection (a no-op without `outlier`). */
  recordOutcome(endpoint: Endpoint, outcome: TryOutcome): void {
    this.#outliers?.record(endpoint, outcome, this.endpoints);
  }

  /** What /status shows of Kubernetes discovery; undefined for listed endpoints. */
  discoveryStatus(): DiscoveryStatus | undefined {
    return this.#discovery?.status();
  }

  /** Let in-flight requests finish, then close every connection. */
  async close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#refreshTimer);
    this.#discovery?.close();
    await Promise.all(this.endpoints.map((e) => e.pool.close()));
  }

  async #refresh(events: UpstreamEvents): Promise<void> {
    const named = this.policy.endpoints[0] as EndpointUrl;
    try {
      const resolved = await this.#resolve(named);
      if (this.#closed) return;
      this.#replaceEndpoints(resolved);
    } catch (err) {
      // Keep the last good addresses: a resolver hiccup must not empty the upstream.
      events.onResolveError?.(this.name, err as Error);
    }
  }

  /**
   * The discovery code, and @kubernetes/client-node with it, is imported here and only here:
   * a sidecar whose upstreams do not use `kubernetes:` never loads it (docs/kubernetes.md).
   * Each change goes through #replaceEndpoints, as DNS answers do, so a pod that stays keeps
   * its pool and outlier state, and a pod that goes has its pool closed after its requests.
   */
  async #discover(policy: UpstreamPolicy & { kubernetes: KubernetesServicePolicy }, events: UpstreamEvents): Promise<void> {
    const { startEndpointDiscovery } = await import('../kubernetes/discovery/watch.js');
    if (this.#closed) return;
    this.#discovery = startEndpointDiscovery(
      policy,
      {
        onEndpoints: (endpoints) => {
          if (!this.#closed) this.#replaceEndpoints(endpoints);
        },
        onError: (err) => events.onDiscoveryError?.(this.name, err),
        onRecovered: (count) => events.onDiscoveryRecovered?.(this.name, count),
      },
      this.#discoveryOptions,
    );
    await this.#discovery.firstSync;
  }

  #replaceEndpoints(resolved: readonly EndpointUrl[]): void {
    const current = new Map(this.endpoints.map((e) => [e.origin, e]));
    const next = resolved.map((url) => current.get(url.origin) ?? new Endpoint(url, this.policy));
    const kept = new Set(next);
    for (const old of this.endpoints) if (!kept.has(old)) void old.pool.close();
    this.endpoints = next;
  }
}

/**
 * The upstream's name and the settings that, when changed by a reload, require new pools (and,
 * for `kubernetes`, a new watch). `tls` is one: the pools hold its options, and for discovered
 * pods it decides http:// or https://.
 */
export function upstreamSettings(policy: UpstreamPolicy): readonly unknown[] {
  const { name, endpoints, kubernetes, balance, connections, connectTimeoutMs, idleTimeoutMs, maxResponseHeaderBytes, outlier, protocol, tls } = policy;
  return [name, endpoints, kubernetes, balance, connections, connectTimeoutMs, idleTimeoutMs, maxResponseHeaderBytes, outlier, protocol, tls];
}

/**
 * What the TLS client is told for an https:// endpoint: verify against `tls.ca` (else the
 * system roots), expect `tls.serverName` (else the endpoint's host), present a client
 * certificate when given. The files are read when the pools are made (at load and reload;
 * the loader has checked they are readable).
 */
function tlsOptions(tls: UpstreamPolicy['tls'], resolvedFrom: string | undefined): Record<string, unknown> {
  const servername = tls?.serverName ?? resolvedFrom;
  return {
    ...(servername === undefined ? {} : { servername }),
    ...(tls?.caFile === undefined ? {} : { ca: readFileSync(tls.caFile) }),
    ...(tls?.certFile === undefined ? {} : { cert: readFileSync(tls.certFile) }),
    ...(tls?.keyFile === undefined ? {} : { key: readFileSync(tls.keyFile) }),
  };
}
