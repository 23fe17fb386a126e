/**
 * The patterns, listed once: every layer a route's pipeline can have, outermost first, with the
 * policy key that turns it on and its factory. This table drives the builder (build.ts), the
 * `layers` list on /status and the docs check (test/pipeline/layers-docs.test.ts). Adding a
 * pattern is one folder in policies/ and one line here. Read the order as the path a request
 * takes inward; the response travels back out. Why this order (docs/architecture.md):
 *
 * - observe outermost (the frame every route has, built in build.ts): metrics and the access
 *   log see what the client saw, refusals included.
 * - timeout outside everything that waits: the body, queueing, retries, backoff and hedges
 *   (its deadline starts once the body is in; its idle watch runs from the start).
 * - bufferBody before anything shared is taken: a slow body holds no slot, no connection.
 * - bulkhead outside retry: one slot per client request, held across its tries; a full
 *   bulkhead is an immediate 503, never a retryable failure.
 * - shadow after admission: mirrors once per request, not once per try.
 * - retry wraps hedge: both draw on one attempt ledger.
 * - circuitBreaker sees every try and hedge copy; perTryTimeout inside it so a slow try counts.
 */
import type { Metrics } from '../observability/metrics.js';
import { bulkheadLayer } from '../policies/bulkhead/layer.js';
import { circuitBreakerLayer } from '../policies/circuit-breaker/layer.js';
import { hedgeLayer } from '../policies/hedge/layer.js';
import { retryLayer } from '../policies/retry/layer.js';
import { perTryTimeoutLayer } from '../policies/retry/per-try-timeout.js';
import { scatterGatherTerminal } from '../policies/scatter-gather/terminal.js';
import { shadowLayer } from '../policies/shadow/layer.js';
import { timeoutLayer } from '../policies/timeout/layer.js';
import { forwardTerminal } from '../upstream/forward.js';
import { bufferBodyLayer } from './buffer-body.js';
import type { LayerFactory, TerminalFactory } from './contract.js';

interface LayerEntry {
  readonly name: string;
  /** The route key of the policy file that configures it; undefined for a layer every route has. */
  readonly key: string | undefined;
  readonly factory: LayerFactory<Metrics>;
}

export const LAYERS = [
  { name: 'timeout', key: 'timeout', factory: timeoutLayer },
  { name: 'bufferBody', key: undefined, factory: (_route, context) => bufferBodyLayer(context.replayBodyLimitBytes) },
  { name: 'bulkhead', key: 'bulkhead', factory: bulkheadLayer },
  { name: 'shadow', key: 'shadow', factory: shadowLayer },
  { name: 'retry', key: 'retry', factory: retryLayer },
  { name: 'hedge', key: 'hedge', factory: hedgeLayer },
  { name: 'circuitBreaker', key: 'circuitBreaker', factory: circuitBreakerLayer },
  { name: 'perTryTimeout', key: 'retry', factory: perTryTimeoutLayer },
] as const satisfies readonly LayerEntry[];

interface TerminalEntry {
  readonly name: string;
  readonly key: string;
  readonly factory: TerminalFactory<Metrics>;
}

/** The innermost step: the first whose factory answers for the route. */
export const TERMINALS = [
  { name: 'scatterGather', key: 'scatterGather', factory: scatterGatherTerminal },
  {
    name: 'forward',
    key: 'upstream',
    factory: (route, context) => {
      const upstream = context.upstream(route.upstream ?? '');
      if (upstream === undefined) throw new Error(`route ${route.name}: upstream ${route.upstream ?? '(none)'} was not built`);
      return forwardTerminal(upstream);
    },
  },
] as const satisfies readonly TerminalEntry[];

export type LayerName = 'observe' | (typeof LAYERS)[number]['name'];
export type TerminalName = (typeof TERMINALS)[number]['name'];

/** Every layer's name, outermost first, observe included. */
export const LAYER_ORDER: readonly LayerName[] = ['observe', ...LAYERS.map((entry) => entry.name)];
