/**
 * What the upstream runtime (src/upstream/upstream.ts) knows of Kubernetes discovery: types
 * only, so that importing them loads nothing. The code, and @kubernetes/client-node with it
 * (about 0.5 s and 60 MB at start-up), is imported only when an upstream uses `kubernetes:`.
 */
import type { EndpointUrl, KubernetesServicePolicy, UpstreamPolicy } from '../../config/types.js';
import type { Clock } from '../../util/clock.js';

/** What /status shows of an upstream's discovery. */
export interface DiscoveryStatus {
  readonly source: 'kubernetes';
  readonly service: string;
  /** Undefined only when no namespace was given and none could be found (then `error` says so). */
  readonly namespace: string | undefined;
  readonly port: string | number;
  /** starting: no list yet; watching: in sync; failing: the last list or watch failed (the last good endpoints stay). */
  readonly state: 'starting' | 'watching' | 'failing';
  /** Ready endpoints in the last good set. */
  readonly endpoints: number;
  /** When the set was last known current: a list, a watch (re)opened, or an event. ISO 8601. */
  readonly lastSync: string | null;
  readonly error?: string;
  /** When the current failure began, and how many tries have failed since (retried with backoff). */
  readonly failingSince?: string;
  readonly failures?: number;
  /** Why a synced Service still yields no endpoint (no slice has the port, say). */
  readonly note?: string;
}

export interface DiscoveryHooks {
  /** The ready endpoints, after each list and each change a watch event brings. */
  onEndpoints(endpoints: readonly EndpointUrl[]): void;
  /** The first failure of an outage (not each retry), so it is logged once. */
  onError?(err: Error): void;
  /** Lists or watches again after a failure. */
  onRecovered?(endpoints: number): void;
}

/** Tuning and test seams; the defaults are the real ones. */
export interface DiscoveryOptions {
  readonly clock?: Clock;
  /** Retry after a failure: base doubles up to max, with jitter (defaults 500 ms and 30 s). */
  readonly backoffBaseMs?: number;
  readonly backoffMaxMs?: number;
  /** A watch is reopened no sooner than this after the previous one opened (default 1 s). */
  readonly minWatchIntervalMs?: number;
  /** How long a list may take, and how long start-up waits for the first one (default 15 s, Envoy's initial fetch timeout). */
  readonly requestTimeoutMs?: number;
  /** Prefix of the service account folder (tests put a token, CA and namespace under a temp dir). */
  readonly serviceAccountPrefix?: string;
  readonly env?: NodeJS.ProcessEnv;
}

export interface EndpointDiscovery {
  /** Settles after the first list succeeded or failed, or after requestTimeoutMs; never rejects. */
  readonly firstSync: Promise<void>;
  status(): DiscoveryStatus;
  close(): void;
}

export type StartDiscovery = (upstream: UpstreamPolicy & { kubernetes: KubernetesServicePolicy }, hooks: DiscoveryHooks, options?: DiscoveryOptions) => EndpointDiscovery;
