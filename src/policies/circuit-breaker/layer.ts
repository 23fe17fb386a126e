/**
 * circuitBreaker: one breaker per route and upstream, kept in the state registry so a reload
 * that leaves the route's upstream and breaker settings unchanged keeps its state. The layer
 * sits inside retry and hedge, so it sees every try and every hedge copy:
 *
 * - admitted: the try goes on; when its promise settles the breaker gets the verdict: a
 *   response is a failure when its status meets `failOn` (5xx) or it took longer than
 *   `slowCall` to its headers; an error is a failure when it meets `failOn` (connect-failure,
 *   reset, timeout). 4xx never count as failures (they still count as calls).
 * - refused (open, or half-open with every probe taken): `circuit-open` at once, with
 *   `retry-after` = the seconds until half-open. The upstream is never touched, and retry
 *   never retries a refusal.
 *
 * A try cancelled from outside (client gone, hedge copy lost) is no verdict on the upstream and
 * is not recorded; a try cut by the route's deadline counts as a `timeout`. Only the outcome up
 * to the response headers is judged: a body that breaks later was already a response.
 */
import type { BreakerFailure, CircuitBreakerPolicy, RoutePolicy } from '../../config/types.js';
import { isOutriderError, OutriderError } from '../../errors.js';
import type { LayerContext } from '../../pipeline/contract.js';
import type { Exchange, Handler, Layer, ProxyResponse } from '../../pipeline/layer.js';
import { stateKey } from '../../state/registry.js';
import { BreakerStateMachine, type BreakerState, type Verdict } from './state.js';
import { isBreakerFailure, outcomeOfError, outcomeOfResponse } from '../../pipeline/outcome.js';

/** What the breaker reports to metrics; implemented by observability/metrics.ts. */
export interface BreakerMetrics {
  /** Read the breaker's state at every scrape; returns a function that stops it. */
  trackBreaker(route: string, upstream: string, state: () => BreakerState): () => void;
  countBreakerTransition(route: string, upstream: string, from: BreakerState, to: BreakerState): void;
}

/** What a breaker needs of the layer context (scatter-gather gives each target one too). */
export type BreakerDeps = Pick<LayerContext<BreakerMetrics>, 'registry' | 'metrics' | 'clock'>;

/** A route's breaker for one upstream, with what the layer needs to judge and refuse. */
export class RouteBreaker {
  readonly route: string;
  readonly upstream: string;
  readonly policy: CircuitBreakerPolicy;
  readonly machine: BreakerStateMachine;
  readonly #untrack: () => void;

  constructor(route: string, upstream: string, policy: CircuitBreakerPolicy, deps: BreakerDeps) {
    this.route = route;
    this.upstream = upstream;
    this.policy = policy;
    this.machine = new BreakerStateMachine(policy, deps.clock);
    this.machine.onTransition((from, to) => deps.metrics.countBreakerTransition(route, upstream, from, to));
    this.#untrack = deps.metrics.trackBreaker(route, upstream, () => this.machine.state);
  }

  refusal(): OutriderError {
    const { route, upstream } = this;
    const message = `route ${route}, upstream ${upstream}: ${this.machine.describeRefusal()}`;
    return new OutriderError('circuit-open', message, { route, upstream, retryAfterSeconds: this.machine.msUntilHalfOpen() / 1000 });
  }

  status(): Record<string, unknown> {
    return { upstream: this.upstream, ...this.machine.snapshot() };
  }

  /** The route or its settings changed: stop reporting this breaker. */
  dispose(): void {
    this.#untrack();
  }
}

/**
 * The breaker of `route` for `upstream`, shared by every build that keeps the same settings
 * (the key holds the settings, so a changed block starts fresh). Exported so scatter-gather
 * can give each target its own breaker the same way.
 */
export function acquireBreaker(route: string, upstream: string, policy: CircuitBreakerPolicy, deps: BreakerDeps): RouteBreaker {
  return deps.registry.acquire(
    stateKey('circuit-breaker', route, upstream, policy),
    () => new RouteBreaker(route, upstream, policy, deps),
    (breaker) => breaker.dispose(),
  );
}

export function circuitBreakerLayer(route: RoutePolicy, context: LayerContext<BreakerMetrics>): Layer | undefined {
  // A scatter-gather route has no single upstream; its terminal gives each target a breaker.
  if (route.circuitBreaker === undefined || route.upstream === undefined) return undefined;
  const breaker = acquireBreaker(route.name, route.upstream, route.circuitBreaker, context);
  context.status('circuitBreaker', () => breaker.status());
  return (next) => guardedBy(breaker, next);
}

/** The layer's handler: admit or refuse, then record the try's verdict when it settles. */
export function guardedBy(breaker: RouteBreaker, next: Handler): Handler {
  const { machine, policy } = breaker;
  return function circuitBreaker(exchange: Exchange): Promise<ProxyResponse> {
    const admission = machine.admit();
    exchange.ledger.breakerState = machine.state;
    if (admission === undefined) return Promise.reject(breaker.refusal());
    return next(exchange).then(
      (response) => {
        machine.record(admission, verdictOfResponse(response, machine.elapsedMs(admission), policy));
        return response;
      },
      (err: unknown) => {
        machine.record(admission, verdictOfError(err, exchange, policy.failOn));
        throw err;
      },
    );
  };
}

export function verdictOfResponse(response: Pick<ProxyResponse, 'status' | 'grpcStatus'>, elapsedMs: number, policy: CircuitBreakerPolicy): Verdict {
  if (isBreakerFailure(outcomeOfResponse(response), policy.failOn)) return 'failure';
  return isSlow(elapsedMs, policy.slowCallMs) ? 'failure' : 'success';
}

function isSlow(elapsedMs: number, slowCallMs: number | undefined): boolean {
  return slowCallMs !== undefined && slowCallMs > 0 && elapsedMs > slowCallMs;
}

export function verdictOfError(err: unknown, exchange: Exchange, failOn: readonly BreakerFailure[]): Verdict {
  const { signal } = exchange;
  // Cancelled from outside the breaker: the client left or a hedge copy lost. Not the
  // upstream's doing. The route deadline is the exception: the upstream did not answer in time.
  if (signal.aborted && !isDeadline(signal.reason)) return 'ignored';
  const outcome = outcomeOfError(err);
  if (isBreakerFailure(outcome, failOn)) return 'failure';
  // A transport failure outside `failOn` is a call that did not fail; a refusal or a
  // cancellation is no call at all.
  return TRANSPORT_FAILURES.has(outcome.kind) ? 'success' : 'ignored';
}

const TRANSPORT_FAILURES: ReadonlySet<string> = new Set(['connect-failure', 'reset', 'timeout']);

function isDeadline(reason: Error | undefined): boolean {
  return isOutriderError(reason) && reason.code === 'timeout';
}
