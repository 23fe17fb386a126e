/**
 * The contract between the pipeline and the patterns: what a layer factory is given and what
 * it returns. It imports no pattern, so every pattern imports it and the builder imports every
 * pattern without an import circle (linkerd2-proxy's stack crates, undici's interceptors).
 *
 * A factory sees a narrow context: the state registry (state that outlives a reload), a place
 * on /status, the replay limit, the clock, the operational log, and upstreams by name. Its
 * metrics come as the pattern's own small interface (`M`), declared next to the pattern;
 * observability/metrics.ts satisfies every one of them without importing any, and the sidecar
 * hands the one Metrics object to all.
 */
import type { RoutePolicy, UpstreamPolicy } from '../config/types.js';
import type { Logger } from '../observability/logger.js';
import type { StateRegistry } from '../state/registry.js';
import type { UpstreamRuntime } from '../upstream/upstream.js';
import type { Clock } from '../util/clock.js';
import type { Handler, Layer } from './layer.js';

/** Lets a layer show its live state on /status under its own key (e.g. `circuitBreaker`). */
export type StatusRegistrar = (key: string, read: () => unknown) => void;

export interface LayerContext<M = unknown> {
  readonly registry: StateRegistry;
  readonly status: StatusRegistrar;
  /** The largest request body kept for sending again (`replayBodyLimit`). */
  readonly replayBodyLimitBytes: number;
  readonly clock: Clock;
  /** Operational log (stderr), for events worth a line: shadow diffs, ejections. */
  readonly log: Logger;
  readonly metrics: M;
  /** A running upstream of the policy, by name. */
  upstream(name: string): UpstreamRuntime | undefined;
  /** An upstream's settings, for a pattern that runs its own pool of it (shadow). */
  upstreamPolicy(name: string): UpstreamPolicy | undefined;
}

/** A pattern: a layer for this route, or undefined when the route does not use it. */
export type LayerFactory<M = unknown> = (route: RoutePolicy, context: LayerContext<M>) => Layer | undefined;

/** A terminal step (forward, scatter-gather): what answers once every layer has passed. */
export type TerminalFactory<M = unknown> = (route: RoutePolicy, context: LayerContext<M>) => Handler | undefined;
