/**
 * Builds each route's pipeline once, when a policy loads: the LAYERS table (layers.ts) in
 * order, the ones the route does not use dropped, folded around the terminal step, inside the
 * observe frame every route has. Each factory gets the narrow LayerContext of contract.ts.
 */
import type { Policy, RoutePolicy } from '../config/types.js';
import { OutriderError } from '../errors.js';
import type { AccessLog } from '../observability/access-log.js';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import { observeLayer } from '../observability/observe-layer.js';
import { SCATTER_UPSTREAM } from '../policies/scatter-gather/terminal.js';
import type { StateRegistry } from '../state/registry.js';
import type { UpstreamRuntime } from '../upstream/upstream.js';
import type { Clock } from '../util/clock.js';
import type { LayerContext } from './contract.js';
import type { Handler, Layer, RouteInfo } from './layer.js';
import { LAYERS, TERMINALS, type LayerName, type TerminalName } from './layers.js';

export interface BuildDeps {
  readonly metrics: Metrics;
  /** Operational log (stderr), for events worth a line: shadow diffs, ejections. */
  readonly log: Logger;
  readonly accessLog: AccessLog | undefined;
  readonly registry: StateRegistry;
  readonly upstreams: ReadonlyMap<string, UpstreamRuntime>;
  readonly policy: Policy;
  readonly clock: Clock;
}

export interface RouteRuntime extends RouteInfo {
  readonly policy: RoutePolicy;
  readonly handler: Handler;
  /** Live state of the route's layers for /status (breaker state, bulkhead occupancy, …). */
  status(): Record<string, unknown>;
  /** Active layers, outermost first, then the terminal step (for /status). */
  readonly layers: readonly (LayerName | TerminalName)[];
}

export function buildRoute(route: RoutePolicy, deps: BuildDeps): RouteRuntime {
  const readers: [string, () => unknown][] = [];
  const context: LayerContext<Metrics> = {
    registry: deps.registry,
    status: (key, read) => void readers.push([key, read]),
    replayBodyLimitBytes: deps.policy.replayBodyLimitBytes,
    clock: deps.clock,
    log: deps.log,
    metrics: deps.metrics,
    upstream: (name) => deps.upstreams.get(name),
    upstreamPolicy: (name) => deps.policy.upstreams.get(name),
  };
  const [terminalName, terminal] = buildTerminal(route, context);
  const applied: [LayerName, Layer][] = [['observe', observeLayer(route.name, { ...deps, upstreamLabel: upstreamLabel(route) })]];
  for (const { name, factory } of LAYERS) {
    const layer = factory(route, context);
    if (layer !== undefined) applied.push([name, layer]);
  }
  return {
    name: route.name,
    policy: route,
    handler: compose(
      applied.map(([, layer]) => layer),
      terminal,
    ),
    layers: [...applied.map(([name]) => name), terminalName],
    status: () => Object.fromEntries(readers.map(([key, read]) => [key, read()])),
  };
}

/** Fold layers, listed outermost first, around the terminal handler. */
export function compose(layers: readonly Layer[], terminal: Handler): Handler {
  return layers.reduceRight<Handler>((next, layer) => layer(next), terminal);
}

function buildTerminal(route: RoutePolicy, context: LayerContext<Metrics>): [TerminalName, Handler] {
  for (const { name, factory } of TERMINALS) {
    const terminal = factory(route, context);
    if (terminal !== undefined) return [name, terminal];
  }
  throw new Error(`route ${route.name} has no terminal step`);
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
