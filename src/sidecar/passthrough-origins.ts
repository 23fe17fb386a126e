/**
 * Where `unrouted: passthrough` sends a request: the authority it names, as an upstream made
 * on first use (one keep-alive pool per origin, the upstream defaults, nothing else), kept in a
 * bounded cache. A captured pod talks to whatever its app talks to, so the set of origins is
 * the app's (or an attacker's, through Host), not the policy's: the cache holds at most
 * MAX_ORIGINS, least recently used first out, and an origin unused for IDLE_MS is closed too
 * (closing lets requests in flight finish: undici's graceful close).
 */
import { networkInterfaces } from 'node:os';
import { isIP } from 'node:net';
import { DEFAULTS } from '../config/defaults.js';
import type { EndpointUrl, HostPort, UpstreamPolicy } from '../config/types.js';
import { UpstreamRuntime } from '../upstream/upstream.js';
import { forwardTerminal } from '../upstream/forward.js';
import type { Handler } from '../pipeline/layer.js';
import type { Clock } from '../util/clock.js';
import { parseDurationMs, parseSizeBytes } from '../util/units.js';

export const MAX_ORIGINS = 256;
export const IDLE_MS = 60_000;

export interface PassthroughTarget extends HostPort {
  /** `host:port` (IPv6 in brackets): the upstream's name in the access log, and the cache key. */
  readonly key: string;
  readonly origin: string;
}

const AUTHORITY = /^(?:\[([0-9a-fA-F:.]+)\]|([A-Za-z0-9._-]+))(?::(\d{1,5}))?$/;

/** `catalog:8080`, `10.0.0.1`, `[fd00::1]:80` → the target; undefined when it is no host[:port]. */
export function parseAuthority(authority: string): PassthroughTarget | undefined {
  const m = AUTHORITY.exec(authority);
  if (m === null) return undefined;
  const host = (m[1] ?? m[2] ?? '').toLowerCase();
  const port = m[3] === undefined ? 80 : Number(m[3]);
  if (port < 1 || port > 65535 || (m[1] !== undefined && isIP(host) !== 6)) return undefined;
  const key = `${m[1] === undefined ? host : `[${host}]`}:${port}`;
  return { host, port, key, origin: `http://${key}` };
}

/**
 * Would the target reach one of the sidecar's own sockets? A request passed through to its
 * own listener comes straight back unrouted: without this it would loop until x-outrider-hops
 * stops it at the eighth pass, holding a connection per pass. A name other than localhost
 * that resolves to us is still left to the hop count.
 */
export function reachesSelf(target: HostPort, own: readonly HostPort[], localAddresses: () => ReadonlySet<string> = interfaceAddresses): boolean {
  const host = target.host.toLowerCase();
  return own.some((self) => {
    if (self.port !== target.port) return false;
    const bound = self.host.toLowerCase();
    if (bound === host) return true;
    if (isLoopbackHost(host)) return isLoopbackHost(bound) || WILDCARD.has(bound);
    return WILDCARD.has(bound) && localAddresses().has(host);
  });
}

const WILDCARD = new Set(['0.0.0.0', '::', '']);

function isLoopbackHost(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^(::ffff:)?127\./.test(host);
}

/** Every address of this network namespace (read only when a port matches: rare). */
function interfaceAddresses(): ReadonlySet<string> {
  return new Set(
    Object.values(networkInterfaces())
      .flat()
      .map((i) => i?.address.toLowerCase() ?? ''),
  );
}

interface Entry {
  readonly upstream: UpstreamRuntime;
  readonly forward: Handler;
  /** Settled once the upstream has its endpoint (at once for an address). */
  readonly ready: Promise<void>;
  lastUsed: number;
}

/** An upstream with the defaults of docs/policy.md, http1: nothing of any route applies. */
function upstreamPolicy(target: PassthroughTarget): UpstreamPolicy {
  const d = DEFAULTS.upstream;
  const endpoint: EndpointUrl = { origin: target.origin, host: target.host, port: target.port };
  return {
    name: target.key,
    endpoints: [endpoint],
    kubernetes: undefined,
    balance: d.balance,
    connections: d.connections,
    connectTimeoutMs: parseDurationMs(d.connectTimeout),
    idleTimeoutMs: parseDurationMs(d.idleTimeout),
    maxResponseHeaderBytes: parseSizeBytes(d.maxResponseHeaderSize),
    tls: undefined,
    protocol: 'http1',
    outlier: undefined,
  };
}

/**
 * A named origin keeps its name: undici looks it up at each new connection (the system
 * resolver, as the app itself would have), rather than the upstream's periodic re-resolution.
 */
const keepName = async (endpoint: EndpointUrl): Promise<EndpointUrl[]> => [endpoint];

/** How an origin's upstream is made; tests pass their own to watch it being closed. */
export type MakeUpstream = (target: PassthroughTarget, clock: Clock) => UpstreamRuntime;

export const makeUpstream: MakeUpstream = (target, clock) => new UpstreamRuntime(upstreamPolicy(target), {}, { clock, resolve: keepName });

export class PassthroughOrigins {
  /** Map order is use order: the first entry is the least recently used. */
  readonly #entries = new Map<string, Entry>();
  readonly #clock: Clock;
  readonly #max: number;
  readonly #idleMs: number;
  readonly #make: MakeUpstream;

  constructor(clock: Clock, max = MAX_ORIGINS, idleMs = IDLE_MS, make = makeUpstream) {
    this.#clock = clock;
    this.#max = max;
    this.#idleMs = idleMs;
    this.#make = make;
  }

  get size(): number {
    return this.#entries.size;
  }

  /** The forward step for `target`, its upstream made (or found) and marked used now. */
  async forwardFor(target: PassthroughTarget): Promise<Handler> {
    const now = this.#clock.now();
    this.#closeIdle(now);
    let entry = this.#entries.get(target.key);
    if (entry === undefined) {
      const upstream = this.#make(target, this.#clock);
      entry = { upstream, forward: forwardTerminal(upstream), ready: upstream.start(), lastUsed: now };
      if (this.#entries.size >= this.#max) this.#evict(this.#entries.keys().next().value as string);
    } else {
      this.#entries.delete(target.key);
      entry.lastUsed = now;
    }
    this.#entries.set(target.key, entry);
    await entry.ready;
    return entry.forward;
  }

  async close(): Promise<void> {
    const all = [...this.#entries.values()];
    this.#entries.clear();
    await Promise.all(all.map((e) => e.upstream.close()));
  }

  #closeIdle(now: number): void {
    for (const [key, entry] of this.#entries) {
      if (now - entry.lastUsed < this.#idleMs) break; // use order: the rest are newer
      this.#evict(key);
    }
  }

  #evict(key: string): void {
    const entry = this.#entries.get(key);
    this.#entries.delete(key);
    void entry?.upstream.close();
  }
}
