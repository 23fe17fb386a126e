/**
 * `unrouted: passthrough` (traffic.md, Listeners): a request no route matches goes to its own
 * authority (absolute-form URI, else Host; port 80 when none), with the defaults' timeout and
 * idleTimeout and nothing else: no retry, hedge, breaker, bulkhead or shadow, since none was
 * asked for that destination. Observed like a route named `passthrough`; the access log's
 * upstream is the authority (`host:port`), while the metrics' upstream label stays
 * `passthrough`: the authority is whatever a client writes in Host, and a label per value
 * would let any client grow the metrics without bound.
 */
import type { HostPort, Policy, RoutePolicy } from '../config/types.js';
import { OutriderError } from '../errors.js';
import type { AccessLog } from '../observability/access-log.js';
import type { Metrics } from '../observability/metrics.js';
import { observeLayer } from '../observability/observe-layer.js';
import { bufferBodyLayer } from '../pipeline/buffer-body.js';
import { compose } from '../pipeline/build.js';
import type { Exchange, Handler, Layer, RouteInfo } from '../pipeline/layer.js';
import { timeoutLayer } from '../policies/timeout/layer.js';
import type { Clock } from '../util/clock.js';
import { parseAuthority, reachesSelf, type PassthroughOrigins } from './passthrough-origins.js';

export const PASSTHROUGH = 'passthrough';

export interface PassthroughDeps {
  readonly policy: Policy;
  readonly metrics: Metrics;
  readonly accessLog: AccessLog | undefined;
  readonly clock: Clock;
  readonly origins: PassthroughOrigins;
  /** The sidecar's own bound addresses (listeners as bound, admin), read per request that needs them. */
  readonly ownAddresses: () => readonly HostPort[];
}

export function passthroughHandler(deps: PassthroughDeps): Handler {
  const route = passthroughRoute(deps.policy);
  const info: RouteInfo = { name: PASSTHROUGH, policy: route };
  const layers = [
    observeLayer(PASSTHROUGH, { metrics: deps.metrics, accessLog: deps.accessLog, upstreamLabel: PASSTHROUGH }),
    timeoutLayer(route, deps),
    bufferBodyLayer(deps.policy.replayBodyLimitBytes),
  ].filter((layer): layer is Layer => layer !== undefined);
  const handler = compose(layers, (exchange) => toAuthority(exchange, deps));
  // The listener hands an unrouted exchange over with no route; from here it has this one.
  return (exchange) => handler({ request: exchange.request, route: info, signal: exchange.signal, ledger: exchange.ledger });
}

async function toAuthority(exchange: Exchange, deps: PassthroughDeps) {
  const { authority, listener } = exchange.request;
  const context = { route: PASSTHROUGH, listener };
  if (authority === '') throw new OutriderError('no-route', `no route of listener ${listener} matches, and the request names no authority to pass through to`, context);
  const target = parseAuthority(authority);
  if (target === undefined) throw new OutriderError('bad-request', `cannot pass through to ${JSON.stringify(authority.slice(0, 256))}: not host[:port]`, context);
  exchange.ledger.upstream = target.key;
  if (reachesSelf(target, deps.ownAddresses())) {
    throw new OutriderError('loop-detected', `passthrough to ${target.key} would reach this sidecar's own listener`, { ...context, upstream: target.key });
  }
  const forward = await deps.origins.forwardFor(target);
  return forward(exchange);
}

/** A route with the defaults' clocks and no pattern, so timeoutLayer reads it like any other. */
function passthroughRoute(policy: Policy): RoutePolicy {
  return {
    name: PASSTHROUGH,
    index: -1,
    listener: undefined,
    match: { host: undefined, path: undefined, pathPrefix: undefined, pathRegex: undefined, methods: undefined, headers: undefined, clientIdentity: undefined },
    upstream: undefined,
    timeoutMs: policy.passthrough.timeoutMs,
    idleTimeoutMs: policy.passthrough.idleTimeoutMs,
    retry: undefined,
    hedge: undefined,
    circuitBreaker: undefined,
    bulkhead: undefined,
    shadow: undefined,
    scatterGather: undefined,
  };
}
