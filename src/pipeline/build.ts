/**
 * Builds each route's pipeline once, when a policy loads: LAYER_ORDER mapped to factories,
 * the absent ones dropped, the rest folded around the terminal step. Adding a pattern is one
 * file in policies/ and one line in LAYER_FACTORIES.
 */
import type { Policy, RoutePolicy } from '../config/types.js';
import { OutriderError } from '../errors.js';
import type { AccessLog } from '../observability/access-log.js';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import { observeLayer } from '../observability/observe-layer.js';
import { hedgeLayer } from '../policies/hedge/layer.js';
import { perTryTimeoutLayer } from '../policies/retry/per-try-timeout.js';
import { retryLayer } from '../policies/retry/layer.js';
import { SCATTER_UPSTREAM, scatterGatherTerminal } from '../policies/scatter-gather/terminal.js';
import { shadowLayer } from '../policies/shadow/layer.js';
import { bulkheadLayer } from '../policies/bulkhead/layer.js';
import { circuitBreakerLayer } from '../policies/circuit-breaker/layer.js';
import { timeoutLayer } from '../policies/timeout/layer.js';
import type { StateRegistry } from '../state/registry.js';
import { forwardTerminal } from '../upstream/forward.js';
import type { UpstreamRuntime } from '../upstream/upstream.js';
import { bufferBodyLayer } from './buffer-body.js';
import type { Handler, Layer, RouteInfo } from './layer.js';
import { LAYER_ORDER, type LayerName, type TerminalName } from './order.js';

export interface BuildDeps {
  readonly metrics: Metrics;
  /** Operational log (stderr), for events worth a line: shadow diffs, ejections. */
  readonly log: Logger;
  readonly accessLog: AccessLog | undefined;
  readonly registry: StateRegistry;
  readonly upstreams: ReadonlyMap<string, UpstreamRuntime>;
  readonly policy: Policy;
}

export interface RouteRuntime extends RouteInfo {
  readonly policy: RoutePolicy;
  readonly handler: Handler;
  /** Live state of the route's layers for /status (breaker state, bulkhead occupancy, …). */
  status(): Record<string, unknown>;
  /** Active layers, outermost first, then the terminal step (for /status). */
  readonly layers: readonly (LayerName | TerminalName)[];
  /** Policies present in the route that this build does not enforce yet. */
  readonly notEnforced: readonly string[];
}

/** Lets a layer show its live state on /status under its own key (e.g. `circuitBreaker`). */
export type StatusRegistrar = (key: string, read: () => unknown) => void;

type LayerFactory = (route: RoutePolicy, deps: BuildDeps, status: StatusRegistrar) => Layer | undefined;

/** One entry per pattern that has landed; LAYER_ORDER decides where each sits. */
const LAYER_FACTORIES: { readonly [K in LayerName]?: LayerFactory } = {
  observe: (route, deps) => observeLayer(route.name, { ...deps, upstreamLabel: upstreamLabel(route) }),
  timeout: (route) => timeoutLayer(route),
  bufferBody: (_route, deps) => bufferBodyLayer(deps.policy.replayBodyLimitBytes),
  bulkhead: bulkheadLayer,
  shadow: shadowLayer,
  retry: retryLayer,
  hedge: hedgeLayer,
  circuitBreaker: circuitBreakerLayer,
  perTryTimeout: perTryTimeoutLayer,
};

/** The route keys each layer enforces, to report configured-but-not-enforced patterns. */
const LAYER_KEYS: { readonly [K in LayerName]?: keyof RoutePolicy } = {
  bulkhead: 'bulkhead',
  shadow: 'shadow',
  retry: 'retry',
  hedge: 'hedge',
  circuitBreaker: 'circuitBreaker',
};

export function buildRoute(route: RoutePolicy, deps: BuildDeps): RouteRuntime {
  const readers: [string, () => unknown][] = [];
  const registrar: StatusRegistrar = (key, read) => void readers.push([key, read]);
  const [terminalName, terminal] = buildTerminal(route, deps, registrar);
  const applied: [LayerName, Layer][] = [];
  for (const name of LAYER_ORDER) {
    const layer = LAYER_FACTORIES[name]?.(route, deps, registrar);
    if (layer === undefined) continue;
    if (typeof layer !== 'function') throw new TypeError(`layer ${name} of route ${route.name} is not a function`);
    applied.push([name, layer]);
  }
  const handler = compose(
    applied.map(([, layer]) => layer),
    terminal,
  );
  return {
    name: route.name,
    policy: route,
    handler,
    layers: [...applied.map(([name]) => name), terminalName],
    notEnforced: notEnforced(route),
    status: () => Object.fromEntries(readers.map(([key, read]) => [key, read()])),
  };
}

/** Fold layers, listed outermost first, around the terminal handler. */
export function compose(layers: readonly Layer[], terminal: Handler): Handler {
  return layers.reduceRight<Handler>((next, layer) => layer(next), terminal);
}

function buildTerminal(route: RoutePolicy, deps: BuildDeps, status: StatusRegistrar): [TerminalName, Handler] {
  if (route.scatterGather !== undefined) return ['scatterGather', scatterGatherTerminal(route, route.scatterGather, deps, status)];
  const upstream = deps.upstreams.get(route.upstream ?? '');
  if (upstream === undefined) throw new Error(`route ${route.name}: upstream ${route.upstream ?? '(none)'} was not built`);
  return ['forward', forwardTerminal(upstream)];
}

function notEnforced(route: RoutePolicy): string[] {
  const missing: string[] = [];
  for (const [layer, key] of Object.entries(LAYER_KEYS) as [LayerName, keyof RoutePolicy][]) {
    if (route[key] !== undefined && LAYER_FACTORIES[layer] === undefined) missing.push(key);
  }
  return missing;
}

function upstreamLabel(route: RoutePolicy): string {
  return route.upstream ?? (route.scatterGather !== undefined ? SCATTER_UPSTREAM : '');
}

/**
 * Pipelines for requests no route takes, observed like any other: 404 no-route, and the
 * listener's refusals (its `request.refusal`: 400 bad-request, 414, 431, 508 loop-detected).
 */
export function buildFallbacks(deps: BuildDeps): { noRoute: Handler; badRequest: Handler } {
  const observe = observeLayer(null, { ...deps, upstreamLabel: '' });
  return {
    noRoute: observe(async function noRoute(exchange) {
      const { listener, method, authority, path } = exchange.request;
      throw new OutriderError('no-route', `no route of listener ${listener} matches ${method} ${authority}${path}`, { listener });
    }),
    badRequest: observe(async function badRequest(exchange) {
      const { listener, incoming, refusal } = exchange.request;
      if (refusal !== undefined) throw refusal;
      throw new OutriderError('bad-request', `request target ${incoming.url ?? ''} is neither origin-form nor absolute http:// form`, {
        listener,
      });
    }),
  };
}
