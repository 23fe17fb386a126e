/**
 * scatterGather: the other terminal step (a scatter route has no single upstream). Every target
 * is called at once, each through its own short stack (circuit breaker → its timeout →
 * forward); with `allEndpoints` a target makes one call per endpoint of its upstream, named
 * `<target>[i]`. The client's method, headers and body go to every call, so the body is read
 * into memory first (up to `replayBodyLimit`; above it the request is refused with 413
 * `request-too-large`, since it cannot be sent several times).
 *
 * A call fails on a transport error, its timeout, a 5xx, an answer over 4 MiB or one the
 * aggregation cannot use; other statuses (4xx included) are answers and are aggregated.
 * `require` (all, any, a quorum N) counts targets; when it is decided, and which pending calls
 * are cancelled: scatter-gathering.ts.
 *
 * Success answers 200 `application/json` (scatter-aggregate.ts). When some calls failed, it is
 * a partial answer: `x-outrider-partial: <failed call names>` and `"_errors"` in the body.
 * Failure answers 504 `timeout` when timeouts made `require` unreachable (the other failures
 * alone would have left it reachable), else 502 `upstream-unreachable`, with every unanswered
 * call's reason under `targets`.
 */
import type { RoutePolicy, ScatterRequire, ScatterTarget } from '../../config/types.js';
import { OutriderError } from '../../errors.js';
import { BufferedBody } from '../../http/buffered-body.js';
import type { LayerContext } from '../../pipeline/contract.js';
import { stateKey } from '../../state/registry.js';
import type { Exchange, Handler, ProxyResponse } from '../../pipeline/layer.js';
import { isReplayable, replayable } from '../../pipeline/replay.js';
import { Cancelled } from '../../pipeline/signal.js';
import { forwardTerminal, forwardTo } from '../../upstream/forward.js';
import type { Endpoint, UpstreamRuntime } from '../../upstream/upstream.js';
import { acquireBreaker, guardedBy, type BreakerMetrics, type RouteBreaker } from '../circuit-breaker/layer.js';
import { aggregatorFor, type Aggregator, type Json } from './aggregate.js';
import { gather, hardFailedTargets, ruleOf, type Rule } from './gather.js';
import { compilePathTemplate, type CallFailure, type CallResult, type CallTarget, type PlannedCall, type PathTemplate } from './call.js';
import { systemClock, type Clock } from '../../util/clock.js';
import { SlidingWindow } from '../../util/sliding-window.js';

/** The ledger's upstream for a scatter route: the access log and metrics label. */
export const SCATTER_UPSTREAM = 'scatter-gather';

export type ScatterAnswer = 'complete' | 'partial' | 'failed';

/** What scatter-gather reports to metrics; implemented by observability/metrics.ts. */
export interface ScatterRecorder {
  /** One call finished: `success` or its failure code; no duration for a cancelled call. */
  call(target: string, outcome: string, seconds: number | undefined): void;
  answer(result: ScatterAnswer): void;
}

/** What scatter-gather reports; implemented by observability/metrics.ts. */
export interface ScatterMetrics extends BreakerMetrics {
  scatterRecorder(route: string): ScatterRecorder;
}

export function scatterGatherTerminal(route: RoutePolicy, context: LayerContext<ScatterMetrics>): Handler | undefined {
  const policy = route.scatterGather;
  if (policy === undefined) return undefined;
  const recorder = context.metrics.scatterRecorder(route.name);
  const targets = policy.targets.map((target) => new TargetRuntime(route, target, context, recorder));
  const aggregator = aggregatorFor(policy);
  const limitBytes = context.replayBodyLimitBytes;
  const rule = ruleOf(policy.require, targets.length);
  context.status('scatterGather', () => ({
    require: describeRequire(policy.require),
    aggregate: policy.aggregate,
    targets: targets.map((t) => t.status()),
  }));

  return async function scatterGather(original: Exchange): Promise<ProxyResponse> {
    original.ledger.upstream = SCATTER_UPSTREAM;
    // Its answer is JSON merged from several: nothing a gRPC client could decode (traffic.md, gRPC).
    if (original.request.grpc) throw new OutriderError('bad-request', `route ${route.name} scatters and gathers JSON; it cannot answer a gRPC call`, { route: route.name });
    const exchange = await replayable(original, limitBytes, () => {});
    if (!isReplayable(exchange.request.body)) throw tooLarge(route.name, limitBytes);
    const calls = targets.flatMap((t) => t.plan());
    const { results, met } = await gather(calls, exchange, aggregator, rule);
    if (met) {
      const failures = failed(results);
      recorder.answer(failures.length > 0 ? 'partial' : 'complete');
      return answer(results, failures, aggregator);
    }
    recorder.answer('failed');
    // The client left: nobody reads the answer, and the reason says so.
    const reason = exchange.signal.reason;
    if (reason instanceof Cancelled) throw reason;
    throw refusal(route.name, policy.require, rule, calls, results);
  };
}

// --- targets ---------------------------------------------------------------------------------

/** A target as built for one policy: its upstream, path template, breaker and counters. */
class TargetRuntime implements CallTarget {
  readonly name: string;
  readonly upstream: UpstreamRuntime;
  readonly timeoutMs: number;
  readonly path: PathTemplate;
  readonly #target: ScatterTarget;
  readonly #breaker: RouteBreaker | undefined;
  readonly #single: Handler;
  /** allEndpoints: each endpoint's stack, built on first use (endpoints change with DNS). */
  readonly #perEndpoint = new WeakMap<Endpoint, Handler>();
  readonly #stats: TargetStats;
  readonly #recorder: ScatterRecorder;

  constructor(route: RoutePolicy, target: ScatterTarget, context: LayerContext<ScatterMetrics>, recorder: ScatterRecorder) {
    const upstream = context.upstream(target.upstream);
    if (upstream === undefined) throw new Error(`route ${route.name}: upstream ${target.upstream} of target ${target.name} was not built`);
    this.name = target.name;
    this.upstream = upstream;
    this.timeoutMs = target.timeoutMs ?? 0;
    this.path = compilePathTemplate(target.path, route.match.pathPrefix);
    this.#target = target;
    // One breaker per route and upstream, as for forward: targets on one upstream share it.
    this.#breaker = route.circuitBreaker === undefined ? undefined : acquireBreaker(route.name, target.upstream, route.circuitBreaker, context);
    this.#single = this.#stack(forwardTerminal(upstream));
    this.#stats = context.registry.acquire(stateKey('scatter-stats', route.name, target.name), () => new TargetStats(context.clock));
    this.#recorder = recorder;
  }

  /** This request's calls: one, or one per endpoint (every endpoint, ejected or not: each is a shard). */
  plan(): PlannedCall[] {
    const endpoints = this.upstream.endpoints;
    // With no endpoints (DNS not resolved yet) the single call fails as `upstream-unreachable`.
    if (!this.#target.allEndpoints || endpoints.length === 0) return [{ name: this.name, target: this, handler: this.#single }];
    return endpoints.map((endpoint, i) => ({ name: `${this.name}[${i}]`, target: this, handler: this.#endpointStack(endpoint) }));
  }

  observe(result: CallResult, seconds: number): void {
    if (result.ok) {
      this.#stats.record(true);
      this.#recorder.call(this.name, 'success', seconds);
      return;
    }
    const cancelled = result.failure.code === 'cancelled';
    if (!cancelled) this.#stats.recordFailure(result.name, result.failure);
    this.#recorder.call(this.name, result.failure.code, cancelled ? undefined : seconds);
  }

  status(): Record<string, unknown> {
    const { name, upstream, timeoutMs } = this;
    return {
      name,
      upstream: upstream.name,
      allEndpoints: this.#target.allEndpoints,
      timeoutMs: timeoutMs > 0 ? timeoutMs : null,
      ...this.#stats.snapshot(),
      ...(this.#breaker === undefined ? {} : { circuitBreaker: this.#breaker.status() }),
    };
  }

  #stack(forward: Handler): Handler {
    return this.#breaker === undefined ? forward : guardedBy(this.#breaker, forward);
  }

  #endpointStack(endpoint: Endpoint): Handler {
    let handler = this.#perEndpoint.get(endpoint);
    if (handler === undefined) {
      handler = this.#stack(forwardTo(this.upstream, endpoint));
      this.#perEndpoint.set(endpoint, handler);
    }
    return handler;
  }
}

// --- answers ---------------------------------------------------------------------------------

type Failed = Extract<CallResult, { ok: false }>;

/** Calls that failed, leaving out those cancelled because the outcome was already decided. */
function failed(results: readonly CallResult[]): Failed[] {
  return results.filter((r): r is Failed => !r.ok && r.failure.code !== 'cancelled');
}

function answer(results: readonly CallResult[], failures: readonly Failed[], aggregator: Aggregator): ProxyResponse {
  const parts = results.flatMap((r) => (r.ok ? [{ name: r.name, value: r.value }] : []));
  const body = aggregator.combine(parts);
  if (failures.length > 0) body['_errors'] = errorsOf(failures);
  const bytes = Buffer.from(JSON.stringify(body));
  const headers = ['content-type', 'application/json', 'content-length', String(bytes.length)];
  if (failures.length > 0) headers.push('x-outrider-partial', failures.map((f) => f.name).join(', '));
  return { status: 200, headers, body: new BufferedBody(bytes) };
}

function errorsOf(failures: readonly Failed[]): Record<string, Json> {
  const out: Record<string, Json> = {};
  for (const { name, failure } of failures) out[name] = errorEntry(failure);
  return out;
}

function errorEntry(failure: CallFailure): Record<string, Json> {
  const { code, status, message } = failure;
  return status === undefined ? { error: code, message } : { error: code, status, message };
}

/**
 * `require` was not met. 504 when the timeouts made the difference (the targets that failed
 * for other reasons alone would have left `require` reachable); otherwise 502.
 */
function refusal(route: string, require: ScatterRequire, rule: Rule, calls: readonly PlannedCall[], results: readonly CallResult[]): OutriderError {
  const targets = new Set(calls.map((c) => c.target)).size;
  const code = targets - hardFailedTargets(calls, results) >= rule.need ? 'timeout' : 'upstream-unreachable';
  const unanswered = results.filter((r): r is Failed => !r.ok);
  const reasons = unanswered.filter((r) => r.failure.code !== 'cancelled').map((r) => `${r.name}: ${r.failure.code}`);
  const message = `route ${route}: scatter-gather needed ${describeNeed(require, rule.need)} of ${targets} targets to succeed (${reasons.join('; ')})`;
  const details: Record<string, Json> = {};
  for (const { name, failure } of unanswered) details[name] = errorEntry(failure);
  return new OutriderError(code, message, { route, upstream: SCATTER_UPSTREAM, details: { targets: details } });
}

function describeNeed(require: ScatterRequire, need: number): string {
  if (require.kind === 'all') return 'all';
  return require.kind === 'any' ? 'one' : String(need);
}

function describeRequire(require: ScatterRequire): string | number {
  return require.kind === 'quorum' ? require.count : require.kind;
}

function tooLarge(route: string, limitBytes: number): OutriderError {
  const message = `route ${route}: the request body is larger than replayBodyLimit (${limitBytes} bytes); scatter-gather must send it to every target`;
  return new OutriderError('request-too-large', message, { route, upstream: SCATTER_UPSTREAM });
}

// --- recent outcomes, for /status ------------------------------------------------------------

const RECENT_SECONDS = 60;

/** A target's successes and failures over the last minute (one-second slots), and its last failure. */
export class TargetStats {
  readonly #counts = new SlidingWindow<'success' | 'failure'>(RECENT_SECONDS * 1000, RECENT_SECONDS, ['success', 'failure']);
  readonly #clock: Pick<Clock, 'now'>;
  #lastFailure: { readonly call: string; readonly error: string; readonly message: string; readonly at: number } | undefined;

  constructor(clock: Pick<Clock, 'now'> = systemClock) {
    this.#clock = clock;
  }

  record(success: boolean): void {
    this.#counts.add(this.#clock.now(), success ? 'success' : 'failure');
  }

  recordFailure(call: string, failure: CallFailure): void {
    this.record(false);
    // A wall-clock time: it is shown on /status as a date.
    this.#lastFailure = { call, error: failure.code, message: failure.message, at: Date.now() };
  }

  snapshot(): Record<string, unknown> {
    const last = this.#lastFailure;
    return {
      recent: { seconds: RECENT_SECONDS, success: this.#counts.sum(this.#clock.now(), 'success'), failure: this.#counts.sum(this.#clock.now(), 'failure') },
      lastFailure: last === undefined ? null : { call: last.call, error: last.error, message: last.message, at: new Date(last.at).toISOString() },
    };
  }
}
