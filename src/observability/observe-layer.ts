/**
 * observe: the outermost layer. It turns any error from the layers inside into the contract's
 * JSON error response (so everything it records is what the client saw), marks the response
 * with `x-outrider-attempts` and `x-outrider-hedged`, and when the response has been fully
 * sent records metrics and writes the access-log line.
 */
import { performance } from 'node:perf_hooks';
import { errorAnswer, toOutriderError } from '../http/error-response.js';
import type { Exchange, Layer, ProxyResponse } from '../pipeline/layer.js';
import { Cancelled } from '../pipeline/signal.js';
import type { AccessLog } from './access-log.js';
import type { Metrics, RequestRecorder } from './metrics.js';

export interface ObserveDeps {
  readonly metrics: Metrics;
  readonly accessLog: AccessLog | undefined;
  /** The route's upstream label; scatter and no-route use their own. */
  readonly upstreamLabel: string;
}

export function observeLayer(routeName: string | null, deps: ObserveDeps): Layer {
  const recorders = new Map<string, RequestRecorder>();
  const firstTries = deps.metrics.tries.labels(routeName ?? '', 'first');
  const recorderFor = (listener: string): RequestRecorder => {
    let recorder = recorders.get(listener);
    if (recorder === undefined) {
      recorder = deps.metrics.recorderFor(listener, routeName ?? '', deps.upstreamLabel);
      recorders.set(listener, recorder);
    }
    return recorder;
  };

  /** The answer as the client gets it, and what is recorded once it has been sent. */
  const answered = (exchange: Exchange, response: ProxyResponse): ProxyResponse => {
    const { ledger } = exchange;
    if (!exchange.signal.aborted) ledger.status = response.status;
    if (response.grpcStatus !== undefined) ledger.grpcStatus = response.grpcStatus;
    response.headers.push('x-outrider-attempts', String(ledger.tries));
    if (ledger.hedged) response.headers.push('x-outrider-hedged', '1');
    const recorder = recorderFor(exchange.request.listener);
    ledger.onFinish(() => {
      const durationMs = performance.now() - ledger.startedAt;
      const { request } = exchange;
      recorder.record(ledger.status, durationMs / 1000, request.grpc ? 'grpc' : request.client.protocol, request.grpc ? ledger.grpcStatus : undefined);
      if (ledger.tries > 0) firstTries.inc();
      deps.accessLog?.write(accessLogEntry(exchange, routeName, durationMs));
    });
    return response;
  };

  return (next) =>
    // Not async, and no catch() before then(): an async frame and its await were two promises
    // and a context object per request.
    function observe(exchange: Exchange): Promise<ProxyResponse> {
      let answer: Promise<ProxyResponse>;
      try {
        answer = next(exchange);
      } catch (err) {
        // A layer that throws instead of rejecting is a bug: the listener answers 502 and logs it.
        return Promise.reject(err);
      }
      return answer.then(
        (response) => answered(exchange, response),
        (err: unknown) => answered(exchange, rescue(exchange, routeName, deps, err)),
      );
    };
}

function rescue(exchange: Exchange, routeName: string | null, deps: ObserveDeps, err: unknown): ProxyResponse {
  const error = toOutriderError(err, routeName ?? undefined, exchange.ledger.upstream);
  // Work stopped on purpose: the client went away (the listener records 499 client-closed) or
  // broke off its body. Nobody reads this answer, and it is no upstream's error.
  const grpc = exchange.request.grpc;
  if (err instanceof Cancelled) return errorAnswer(error, grpc);
  exchange.ledger.errorCode = error.code;
  deps.metrics.errors.labels(routeName ?? '', error.code).inc();
  return errorAnswer(error, grpc);
}

function accessLogEntry(exchange: Exchange, routeName: string | null, durationMs: number) {
  const { request, ledger } = exchange;
  return {
    requestId: request.requestId,
    listener: request.listener,
    route: routeName,
    upstream: ledger.upstream ?? null,
    endpoint: ledger.endpoint ?? null,
    method: request.method,
    path: request.path,
    status: ledger.status,
    duration: Math.round(durationMs * 1000) / 1000,
    attempts: ledger.tries,
    hedged: ledger.hedged,
    breakerState: ledger.breakerState ?? null,
    errorCode: ledger.errorCode ?? null,
    clientIdentity: request.clientIdentity ?? null,
    protocol: request.grpc ? 'grpc' : request.client.protocol,
    grpcStatus: ledger.grpcStatus ?? null,
  };
}
