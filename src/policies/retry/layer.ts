/**
 * retry: sends the request again when a try fails in one of the ways listed in `retry.on`,
 * for the listed methods only (the idempotent ones by default), up to `attempts` tries in all
 * (hedge copies included: both draw on the exchange's ledger).
 *
 * - Between tries: exponential backoff with full jitter, random(0, min(max, base·2ⁿ)), or the
 *   upstream's `Retry-After` when it sent one; a wait that would outlast the route deadline is
 *   not started, the last answer is passed on instead.
 * - The next try prefers an endpoint not tried yet (the balancer reads the ledger).
 * - A retry budget caps retries at `ratio` of the route's requests over 10 s plus a floor of
 *   `minPerSecond`; when it says no, the last upstream answer is passed on, or 503
 *   `retry-budget-exhausted` when there is none.
 * - Never after response bytes reached the client: a response is only ever returned once.
 * - Never on the sidecar's own refusals (`circuit-open`, `bulkhead-full`), never after the route
 *   deadline or the client has gone (the exchange's signal is aborted).
 * - The body must be replayable (read into memory up to `replayBodyLimit`); a larger one is
 *   sent once, as if the route had no retry.
 */
import type { RetryPolicy, RoutePolicy } from '../../config/types.js';
import { OutriderError } from '../../errors.js';
import type { LayerContext } from '../../pipeline/contract.js';
import { stateKey } from '../../state/registry.js';
import type { Exchange, Layer, ProxyResponse } from '../../pipeline/layer.js';
import { isReplayable, mayRepeat, replayable } from '../../pipeline/replay.js';
import type { Signal } from '../../pipeline/signal.js';
import type { Clock } from '../../util/clock.js';
import { TryBudget } from './budget.js';
import { meetsAny, outcomeOfError, outcomeOfResponse } from '../../pipeline/outcome.js';

/** What retry reports; implemented by observability/metrics.ts. */
export interface RetryMetrics {
  triesCounter(route: string, kind: 'retry'): Increment;
  budgetExhaustedCounter(route: string, budget: 'retry'): Increment;
  replaySkippedCounter(route: string): Increment;
}

export interface Increment {
  inc(): void;
}

export function retryLayer(route: RoutePolicy, context: LayerContext<RetryMetrics>): Layer | undefined {
  const policy = route.retry;
  if (policy === undefined || policy.attempts <= 1) return undefined;
  const { ratio, minPerSecond } = policy.budget;
  const budget = context.registry.acquire(stateKey('retry-budget', route.name, ratio, minPerSecond), () => new TryBudget(ratio, minPerSecond, context.clock));
  context.status('retry', () => ({ attempts: policy.attempts, budget: budget.snapshot() }));
  const retries = context.metrics.triesCounter(route.name, 'retry');
  const exhausted = context.metrics.budgetExhaustedCounter(route.name, 'retry');
  const skipped = context.metrics.replaySkippedCounter(route.name);
  const limitBytes = context.replayBodyLimitBytes;
  const clock = context.clock;

  const hooks: RetryHooks = {
    mayRetry: () => (budget.tryWithdraw() ? true : (exhausted.inc(), false)),
    onRetry: () => retries.inc(),
    clock,
  };

  return (next) => {
    const retried = (exchange: Exchange): Promise<ProxyResponse> => {
      budget.recordRequest();
      exchange.ledger.maxTries = policy.attempts;
      return tryUntilDone(exchange, next, policy, hooks);
    };
    return function retry(original: Exchange): Promise<ProxyResponse> {
      // An upgrade is a handshake, then a tunnel: never sent twice.
      if (!mayRepeat(original.request, policy.methods)) return next(original);
      // Most requests have no body or one in hand already: no promise to wait on for it.
      if (isReplayable(original.request.body)) return retried(original);
      return replayable(original, limitBytes, () => skipped.inc()).then((exchange) => (isReplayable(exchange.request.body) ? retried(exchange) : next(exchange)));
    };
  };
}

interface RetryHooks {
  /** Asks the budget; false means stop and pass on what we have. */
  mayRetry(): boolean;
  onRetry(): void;
  readonly clock: Clock;
}

type Next = (e: Exchange) => Promise<ProxyResponse>;

/**
 * The first try, outside the loop: nearly every request needs no second one, and an async
 * frame per request cost ~500 bytes. A retryable outcome hands over to the loop.
 */
function tryUntilDone(exchange: Exchange, next: Next, policy: RetryPolicy, hooks: RetryHooks): Promise<ProxyResponse> {
  return next(exchange).then(
    (response) => (meetsAny(outcomeOfResponse(response), policy.on) ? retryAfter(exchange, next, policy, hooks, response, undefined) : response),
    (err: unknown) => {
      if (!isRetryableError(err, exchange, policy)) throw err;
      return retryAfter(exchange, next, policy, hooks, undefined, err);
    },
  );
}

/** A failure retry does not try again: a refusal, a condition not listed, or the exchange is over. */
function isRetryableError(err: unknown, exchange: Exchange, policy: RetryPolicy): boolean {
  const outcome = outcomeOfError(err);
  return outcome.kind !== 'refused' && meetsAny(outcome, policy.on) && !exchange.signal.aborted;
}

/** The retry loop, after a try that failed in a retryable way: each failure waited on and retried while allowed. */
async function retryAfter(exchange: Exchange, next: Next, policy: RetryPolicy, hooks: RetryHooks, first: ProxyResponse | undefined, firstFailure: unknown) {
  const { ledger, signal } = exchange;
  let last = first;
  let failure = firstFailure;
  for (let retryNumber = 0; ; retryNumber++) {
    // This try failed in a retryable way: is another one allowed, and worth its wait?
    if (ledger.tries >= ledger.maxTries || signal.aborted) return passOn(last, failure);
    const waitMs = retryAfterMs(last) ?? backoffMs(policy, retryNumber);
    if (hooks.clock.now() + waitMs >= ledger.deadline) return passOn(last, failure);
    if (!hooks.mayRetry()) return passOn(last, failure ?? budgetError(exchange));
    try {
      await sleep(waitMs, signal, hooks.clock);
    } catch (err) {
      last?.body.destroy();
      throw err;
    }
    hooks.onRetry();
    failure = undefined;
    try {
      const response = await next(exchange);
      last?.body.destroy();
      last = response;
      if (!meetsAny(outcomeOfResponse(response), policy.on)) return response;
    } catch (err) {
      if (!isRetryableError(err, exchange, policy)) {
        last?.body.destroy();
        throw err;
      }
      failure = err;
    }
  }
}

/** The last upstream answer if there is one, else the last failure. */
function passOn(last: ProxyResponse | undefined, failure: unknown): ProxyResponse {
  if (last !== undefined) return last;
  throw failure;
}

function budgetError(exchange: Exchange): OutriderError {
  return new OutriderError('retry-budget-exhausted', `route ${exchange.route.name}: the retry budget is spent`, {
    route: exchange.route.name,
    upstream: exchange.ledger.upstream,
  });
}

/** Full jitter: a uniform wait between 0 and the capped exponential step. */
export function backoffMs(policy: RetryPolicy, retryNumber: number, random: () => number = Math.random): number {
  const ceiling = Math.min(policy.backoff.maxMs, policy.backoff.baseMs * 2 ** retryNumber);
  return random() * ceiling;
}

/** `Retry-After` of a response, as seconds or an HTTP date, in ms; undefined when absent or unreadable. */
export function retryAfterMs(response: ProxyResponse | undefined, now: number = Date.now()): number | undefined {
  if (response === undefined) return undefined;
  const { headers } = response;
  for (let i = 0; i < headers.length; i += 2) {
    if ((headers[i] as string).toLowerCase() !== 'retry-after') continue;
    const value = (headers[i + 1] as string).trim();
    if (/^\d+$/.test(value)) return Number(value) * 1000;
    const date = Date.parse(value);
    return Number.isNaN(date) ? undefined : Math.max(0, date - now);
  }
  return undefined;
}

/** Wait, unless the exchange is cancelled first (then reject with its reason). */
function sleep(ms: number, signal: Signal, clock: Clock): Promise<void> {
  if (ms <= 0) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const onAbort = (reason: Error): void => {
      clearTimeout(timer);
      reject(reason);
    };
    const timer = clock.setTimeout(() => {
      signal.offAbort(onAbort);
      resolve();
    }, ms);
    signal.onAbort(onAbort);
  });
}
