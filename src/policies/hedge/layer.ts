/**
 * hedge: when a try has not answered (no response headers) after `delay`, send another copy,
 * to another endpoint where there is one, up to `maxAttempts` copies in flight; the first
 * response to arrive wins and the other copies are aborted (their upstream requests cancelled,
 * their connections released).
 *
 * - `delay: p95` (any percentile) follows this route's own recent latency, from a rolling
 *   histogram of time-to-headers, never below `minDelay`. Until the window holds enough
 *   samples the route is not hedged (there is nothing to base a delay on yet).
 * - A hedge budget caps copies at `ratio` of the route's requests over 10 s.
 * - Copies count as tries in the shared ledger: with retry outside, `retry.attempts` bounds
 *   tries in all and hedging stops when they are used up.
 * - A response that the route's retry would retry (say a 503) does not win while another copy
 *   is still in flight; if nothing better arrives it is passed on.
 * - Idempotent methods only, unless listed; bodies must be replayable.
 */
import type { FailureCondition, HedgePolicy, RoutePolicy } from '../../config/types.js';
import type { LayerContext } from '../../pipeline/contract.js';
import { stateKey } from '../../state/registry.js';
import type { Clock } from '../../util/clock.js';
import { withSignal } from '../../pipeline/layer.js';
import type { Exchange, Handler, Layer, ProxyResponse } from '../../pipeline/layer.js';
import { isReplayable, mayRepeat, replayable } from '../../pipeline/replay.js';
import { Cancelled, LinkedScope, type Signal } from '../../pipeline/signal.js';
import { Deadline, DeadlineQueue } from '../../util/deadline-queue.js';
import { TryBudget } from '../retry/budget.js';
import { LatencyWindow } from './latency-window.js';
import { meetsAny, outcomeOfResponse } from '../../pipeline/outcome.js';

/** What hedging reports; implemented by observability/metrics.ts. */
export interface HedgeMetrics {
  triesCounter(route: string, kind: 'hedge'): Increment;
  hedgeWinsCounter(route: string): Increment;
  budgetExhaustedCounter(route: string, budget: 'hedge'): Increment;
  replaySkippedCounter(route: string): Increment;
}

interface Increment {
  inc(): void;
}

export function hedgeLayer(route: RoutePolicy, context: LayerContext<HedgeMetrics>): Layer | undefined {
  const policy = route.hedge;
  if (policy === undefined || policy.maxAttempts < 2) return undefined;
  const { metrics, clock } = context;
  const latency = context.registry.acquire(stateKey('latency', route.name), () => new LatencyWindow(undefined, clock));
  const budget = context.registry.acquire(stateKey('hedge-budget', route.name, policy.budget.ratio), () => new TryBudget(policy.budget.ratio, 0, clock));
  const delayMs = (): number | undefined => hedgeDelayMs(policy, latency);
  context.status('hedge', () => ({ delayMs: delayMs() ?? null, samples: latency.samples(), budget: budget.snapshot() }));
  const race: RaceSettings = {
    maxAttempts: policy.maxAttempts,
    retryOn: route.retry?.on,
    latency,
    mayHedge: () => budget.tryWithdraw(),
    hedges: metrics.triesCounter(route.name, 'hedge'),
    wins: metrics.hedgeWinsCounter(route.name),
    exhausted: metrics.budgetExhaustedCounter(route.name, 'hedge'),
    clock,
    delays: new DeadlineQueue(clock),
  };
  const skipped = metrics.replaySkippedCounter(route.name);
  const limitBytes = context.replayBodyLimitBytes;

  return (next) => {
    const hedged = (exchange: Exchange): Promise<ProxyResponse> => {
      budget.recordRequest();
      const delay = delayMs();
      if (delay === undefined) return timed(next, exchange, latency, clock);
      return new HedgedRace(exchange, next, race, delay).run();
    };
    return function hedge(original: Exchange): Promise<ProxyResponse> {
      // An upgrade is a handshake, then a tunnel: never sent twice.
      if (!mayRepeat(original.request, policy.methods)) return next(original);
      // Most requests have no body or one in hand already: no promise to wait on for it.
      if (isReplayable(original.request.body)) return hedged(original);
      return replayable(original, limitBytes, () => skipped.inc()).then((exchange) => (isReplayable(exchange.request.body) ? hedged(exchange) : next(exchange)));
    };
  };
}

/** The delay before a hedge copy: fixed, or the route's observed percentile; never below minDelay. */
export function hedgeDelayMs(policy: HedgePolicy, latency: LatencyWindow): number | undefined {
  if (policy.delay.kind === 'fixed') return Math.max(policy.minDelayMs, policy.delay.ms);
  const observed = latency.percentile(policy.delay.percentile);
  return observed === undefined ? undefined : Math.max(policy.minDelayMs, observed);
}

/** One try, its time to headers recorded (warm-up, before the histogram can set a delay). */
async function timed(next: Handler, exchange: Exchange, latency: LatencyWindow, clock: Clock): Promise<ProxyResponse> {
  const startedAt = clock.now();
  const response = await next(exchange);
  latency.record(clock.now() - startedAt);
  return response;
}

interface RaceSettings {
  readonly maxAttempts: number;
  readonly retryOn: readonly FailureCondition[] | undefined;
  readonly latency: LatencyWindow;
  mayHedge(): boolean;
  readonly hedges: Increment;
  readonly wins: Increment;
  readonly exhausted: Increment;
  readonly clock: Clock;
  /** The layer's pending hedge delays, on one timer. */
  readonly delays: DeadlineQueue;
}

/** One copy of the request: its own cancellation, linked to the exchange's. */
class Copy extends LinkedScope {
  readonly index: number;
  readonly startedAt: number;

  constructor(parent: Signal, index: number, startedAt: number) {
    super(parent);
    this.index = index;
    this.startedAt = startedAt;
  }
}

const HEDGE_LOST = 'another copy of this request answered first';

/** One request's copies racing: launch, time, pick the winner, abort the rest. Its deadline is the next hedge. */
class HedgedRace extends Deadline {
  readonly #exchange: Exchange;
  readonly #next: Handler;
  readonly #settings: RaceSettings;
  readonly #delayMs: number;
  #copies: Copy[] = [];
  #inFlight = 0;
  #settled = false;
  /** A response the route would retry, kept in case no copy does better. */
  #fallback: ProxyResponse | undefined;
  #lastError: unknown;
  #resolve!: (response: ProxyResponse) => void;
  #reject!: (err: unknown) => void;

  constructor(exchange: Exchange, next: Handler, settings: RaceSettings, delayMs: number) {
    super();
    this.#exchange = exchange;
    this.#next = next;
    this.#settings = settings;
    this.#delayMs = delayMs;
  }

  run(): Promise<ProxyResponse> {
    const result = new Promise<ProxyResponse>((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
    // Each copy follows the client until the exchange is over (the winner streams its body).
    this.#exchange.ledger.onFinish(() => {
      for (const copy of this.#copies) copy.release();
    });
    this.#launch();
    return result;
  }

  #launch(): void {
    const copy = new Copy(this.#exchange.signal, this.#copies.length, this.#settings.clock.now());
    // A list of one to start: pushing onto [] would grow it to 17 slots, for a second copy that rarely comes.
    if (this.#copies.length === 0) this.#copies = [copy];
    else this.#copies.push(copy);
    this.#inFlight += 1;
    this.#next(withSignal(this.#exchange, copy)).then(
      (response) => this.#onResponse(copy, response),
      (err: unknown) => this.#onError(err),
    );
    if (this.#copies.length < this.#settings.maxAttempts) this.#settings.delays.add(this, this.#delayMs);
  }

  /** The delay passed with no answer: send another copy, if allowed. */
  onDeadline(): void {
    const { ledger } = this.#exchange;
    if (this.#settled || this.#exchange.signal.aborted || ledger.tries >= ledger.maxTries) return;
    if (!this.#settings.mayHedge()) {
      this.#settings.exhausted.inc();
      return;
    }
    this.#settings.hedges.inc();
    this.#launch();
  }

  #onResponse(copy: Copy, response: ProxyResponse): void {
    this.#inFlight -= 1;
    if (this.#settled) {
      response.body.destroy(new Cancelled(HEDGE_LOST));
      return;
    }
    const retryable = this.#settings.retryOn !== undefined && meetsAny(outcomeOfResponse(response), this.#settings.retryOn);
    if (retryable && this.#inFlight > 0) {
      this.#fallback?.body.destroy(new Cancelled(HEDGE_LOST));
      this.#fallback = response;
      return;
    }
    this.#win(copy, response);
  }

  #onError(err: unknown): void {
    this.#inFlight -= 1;
    if (this.#settled) return;
    this.#lastError = err;
    if (this.#inFlight > 0 && !this.#exchange.signal.aborted) return;
    this.#finish();
    if (this.#fallback !== undefined && !this.#exchange.signal.aborted) this.#resolve(this.#fallback);
    else this.#reject(this.#lastError);
  }

  #win(winner: Copy, response: ProxyResponse): void {
    this.#finish();
    this.#recordLatency();
    if (this.#fallback !== response) this.#fallback?.body.destroy(new Cancelled(HEDGE_LOST));
    for (const copy of this.#copies) if (copy !== winner) copy.abort(new Cancelled(HEDGE_LOST));
    if (winner.index > 0) {
      this.#exchange.ledger.hedged = true;
      this.#settings.wins.inc();
    }
    this.#resolve(response);
  }

  #finish(): void {
    this.#settled = true;
    this.#settings.delays.remove(this);
  }

  /**
   * One sample per request: how long the first copy took, or, when a hedge won, how long it
   * had taken so far (a lower bound: it was still running). Recording only winners would hide
   * exactly the slow tries the delay is about, pull the percentile down, hedge more, hide more,
   * until the budget stops it; a lower bound above the delay keeps the percentile honest.
   */
  #recordLatency(): void {
    const first = this.#copies[0];
    if (first !== undefined) this.#settings.latency.record(this.#settings.clock.now() - first.startedAt);
  }
}
