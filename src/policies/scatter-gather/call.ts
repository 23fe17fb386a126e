/**
 * One call of a scatter-gather request: one target (or, with `allEndpoints`, one endpoint of
 * it) through that target's short stack (circuit breaker → forward), under the target's own
 * timeout, with the answer read whole (bounded) and checked by the aggregation. A call never
 * rejects: it comes back as a success with its value, or as a failure with a reason that goes
 * into `_errors`. The call's signal is linked to the gathering's, so the route deadline, the
 * client going away and "the outcome is decided" all cancel it.
 */
import { performance } from 'node:perf_hooks';
import { classifyUpstreamError, OutriderError, type CallFailureCode } from '../../errors.js';
import { findHeader } from '../../http/headers.js';
import { AttemptLedger } from '../../pipeline/exchange.js';
import { collectBody } from '../../http/collect-body.js';
import type { Exchange, Handler } from '../../pipeline/layer.js';
import { Cancelled, CancelScope, type Signal } from '../../pipeline/signal.js';
import type { UpstreamRuntime } from '../../upstream/upstream.js';
import type { Aggregator, Json } from './aggregate.js';

/**
 * The largest answer read from one call. Answers are held in memory until all are in, so
 * this bounds a request's memory at (calls × 4 MiB); a larger answer is that call's failure.
 */
export const CALL_BODY_LIMIT_BYTES = 4 * 1024 * 1024;

/**
 * Why a call did not count as a success: a catalogue code (`timeout`, `upstream-unreachable`,
 * `upstream-reset`, `circuit-open`), or `upstream-status` (a 5xx answer), `response-too-large`,
 * `bad-body` (an answer the aggregation cannot use), `cancelled` (not awaited once the outcome
 * was decided, or the client left).
 */
export interface CallFailure {
  readonly code: CallFailureCode;
  readonly status?: number;
  readonly message: string;
}

export type CallResult =
  | { readonly ok: true; readonly name: string; readonly value: Json }
  | { readonly ok: false; readonly name: string; readonly failure: CallFailure };

/** What a call needs of its target. */
export interface CallTarget {
  readonly name: string;
  readonly upstream: UpstreamRuntime;
  /** 0: only the route timeout applies. */
  readonly timeoutMs: number;
  readonly path: PathTemplate;
  /** Counts the call in metrics and on /status. */
  observe(result: CallResult, seconds: number): void;
}

export interface PlannedCall {
  /** `name`, or `name[i]` for endpoint i of an `allEndpoints` target. */
  readonly name: string;
  readonly target: CallTarget;
  readonly handler: Handler;
}

export async function runCall(call: PlannedCall, base: Exchange, parent: Signal, aggregator: Aggregator): Promise<CallResult> {
  const startedAt = performance.now();
  const scope = CancelScope.linkedTo(parent);
  const timer = armTimeout(scope, call, base.route.name);
  let result: CallResult;
  try {
    const response = await call.handler(callExchange(base, call.target, scope));
    const body = await collectBody(response.body, CALL_BODY_LIMIT_BYTES);
    result = judge(call.name, response.status, body, findHeader(response.headers, 'content-type'), aggregator);
  } catch (err) {
    result = { ok: false, name: call.name, failure: failureOf(err, base.route.name, call.target.upstream.name) };
  } finally {
    clearTimeout(timer);
    scope.release();
  }
  call.target.observe(result, (performance.now() - startedAt) / 1000);
  return result;
}

function armTimeout(scope: CancelScope, call: PlannedCall, route: string): NodeJS.Timeout | undefined {
  const { timeoutMs, upstream } = call.target;
  if (timeoutMs <= 0) return undefined;
  return setTimeout(() => {
    const message = `target ${call.name} of route ${route} timed out after ${timeoutMs} ms`;
    scope.abort(new OutriderError('timeout', message, { route, upstream: upstream.name }));
  }, timeoutMs);
}

/**
 * The client's request as this target gets it: its own path, signal and ledger. A ledger of
 * its own because each call is a first try to its upstream (`x-outrider-attempt: 1`, the
 * balancer free to pick any endpoint); the gathering counts calls on the client's ledger.
 */
function callExchange(base: Exchange, target: CallTarget, signal: Signal): Exchange {
  const ledger = new AttemptLedger(base.ledger.startedAt);
  ledger.deadline = base.ledger.deadline;
  const request = { ...base.request, path: target.path.render(base.request.path) };
  return { request, route: base.route, signal, ledger };
}

/** 5xx fails; any other status is the upstream's answer (a 404 is still an answer), if the aggregation can use it. */
function judge(name: string, status: number, body: Buffer | undefined, contentType: string | undefined, aggregator: Aggregator): CallResult {
  if (body === undefined) {
    return { ok: false, name, failure: { code: 'response-too-large', status, message: `the answer is larger than ${CALL_BODY_LIMIT_BYTES} bytes` } };
  }
  if (status >= 500) return { ok: false, name, failure: { code: 'upstream-status', status, message: `answered ${status}` } };
  const accepted = aggregator.accept(body, contentType);
  if (!accepted.ok) return { ok: false, name, failure: { code: 'bad-body', status, message: accepted.message } };
  return { ok: true, name, value: accepted.value };
}

function failureOf(err: unknown, route: string, upstream: string): CallFailure {
  if (err instanceof Cancelled) return { code: 'cancelled', message: err.message };
  const error = classifyUpstreamError(err, { route, upstream });
  return { code: error.code, message: error.message };
}

// --- path templates --------------------------------------------------------------------------

/** A target's `path`, compiled once: `{path}`, `{suffix}`, `{query}` filled per request. */
export interface PathTemplate {
  /** The upstream path for a client request path (origin-form, query included). */
  render(requestPath: string): string;
}

/** The client's path and query, unchanged: a target without `path`. */
export const KEEP_PATH: PathTemplate = { render: (requestPath) => requestPath };

/**
 * Compile a template. `{suffix}` is what follows the route's `pathPrefix` (empty on a route
 * matched by `path` or `pathRegex`). A template that neither uses `{query}` nor contains `?`
 * gets the client's query appended, as a prefix rewrite would keep it; otherwise the query is
 * exactly as written, with a `?` or `&` left dangling by an empty `{query}` dropped.
 */
export function compilePathTemplate(template: string | undefined, pathPrefix: string | undefined): PathTemplate {
  if (template === undefined) return KEEP_PATH;
  const pieces = template.split(/(\{(?:path|suffix|query)\})/);
  const appendQuery = !template.includes('{query}') && !template.includes('?');
  return {
    render(requestPath) {
      const mark = requestPath.indexOf('?');
      const path = mark === -1 ? requestPath : requestPath.slice(0, mark);
      const query = mark === -1 ? '' : requestPath.slice(mark + 1);
      const values = new Map([
        ['{path}', path],
        ['{suffix}', suffixOf(path, pathPrefix)],
        ['{query}', query],
      ]);
      const rendered = pieces.map((piece) => values.get(piece) ?? piece).join('');
      if (appendQuery) return query === '' ? rendered : `${rendered}?${query}`;
      return query === '' ? rendered.replace(/[?&]$/, '') : rendered;
    },
  };
}

function suffixOf(path: string, pathPrefix: string | undefined): string {
  if (pathPrefix === undefined || !path.startsWith(pathPrefix)) return '';
  return path.slice(pathPrefix.length);
}
