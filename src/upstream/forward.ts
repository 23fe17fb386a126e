/**
 * The terminal step of a route (Envoy's router): pick an endpoint, send one try through its
 * undici Pool, and hand back the response as soon as its headers arrive, with the body still
 * streaming. One handler object per try does everything (no per-request closures), using
 * undici's dispatch API with raw headers, which measured fastest here (bench/RESULTS.md, "Profile").
 *
 * A gRPC call whose request was sent whole (a unary call) is answered only once it is known
 * how it went: with trailers-only headers at once, else at its first response byte (a message
 * is coming: from then on the call is never retried) or at its trailers (no message: the
 * grpc-status decides, and a retry or hedge may still take the call over). traffic.md, gRPC.
 *
 * Every try honours the exchange's signal: when it aborts (client gone, deadline, hedge lost)
 * the upstream request is aborted and its connection released. A body that the client stops
 * reading pauses the upstream socket; when the client goes away, the upstream is aborted
 * rather than left paused (a paused, orphaned request would pin a pooled connection forever).
 */
import type { Duplex } from 'node:stream';
import type { Dispatcher } from 'undici';
import { classifyUpstreamError, OutriderError, type ErrorContext } from '../errors.js';
import { BufferedBody } from '../http/buffered-body.js';
import { clientResponseHeaders, findHeader } from '../http/headers.js';
import type { BodySink, Exchange, Handler, ProxyResponse, ResponseBody } from '../pipeline/layer.js';
import { outcomeOfError, outcomeOfStatus } from '../pipeline/outcome.js';
import { parseGrpcStatus } from '../grpc/status.js';
import type { Endpoint, UpstreamRuntime } from './upstream.js';

const NO_BODY = new BufferedBody(Buffer.alloc(0));

/** Chunks kept while no sink is attached yet, before the upstream is paused. */
const UNATTACHED_BUFFER_BYTES = 64 * 1024;

export function forwardTerminal(upstream: UpstreamRuntime): Handler {
  return function forward(exchange: Exchange): Promise<ProxyResponse> {
    const { ledger } = exchange;
    ledger.upstream = upstream.name;
    const endpoint = upstream.pick(ledger.endpointsTried);
    if (endpoint === undefined) {
      return Promise.reject(
        new OutriderError('upstream-unreachable', `upstream ${upstream.name} has no endpoints`, {
          route: exchange.route.name,
          upstream: upstream.name,
        }),
      );
    }
    return sendTry(exchange, upstream, endpoint);
  };
}

/**
 * Like forwardTerminal, but always to `endpoint`, bypassing the balancer: scatter-gather's
 * `allEndpoints` makes one call per endpoint (one per shard), so the choice is already made.
 */
export function forwardTo(upstream: UpstreamRuntime, endpoint: Endpoint): Handler {
  return function forwardToEndpoint(exchange: Exchange): Promise<ProxyResponse> {
    exchange.ledger.upstream = upstream.name;
    return sendTry(exchange, upstream, endpoint);
  };
}

function sendTry(exchange: Exchange, upstream: UpstreamRuntime, endpoint: Endpoint): Promise<ProxyResponse> {
  exchange.ledger.recordTry(endpoint.origin);
  return new Promise<ProxyResponse>((resolve, reject) => {
    const tryHandler = new UpstreamTry(exchange, endpoint, upstream, resolve, reject);
    endpoint.pool.dispatch(tryHandler.options(), tryHandler);
  });
}

type TryState = 'waiting' | 'streaming' | 'done';

/** One try against one endpoint: an undici dispatch handler and the response body it yields. */
class UpstreamTry implements Dispatcher.DispatchHandler, ResponseBody {
  readonly #exchange: Exchange;
  readonly #endpoint: Endpoint;
  readonly #upstream: UpstreamRuntime;
  readonly #resolve: (response: ProxyResponse) => void;
  readonly #reject: (err: unknown) => void;
  #state: TryState = 'waiting';
  #abortUpstream: ((err: Error) => void) | undefined;
  #resumeUpstream: (() => void) | undefined;
  #sink: BodySink | undefined;
  #pending: Buffer[] | undefined;
  #pendingBytes = 0;
  #ended = false;
  #failure: Error | undefined;
  #trailers: string[] | undefined;
  /** A unary gRPC call's answer held back until its first byte or its trailers. */
  #held: { readonly status: number; readonly headers: string[] } | undefined;

  constructor(
    exchange: Exchange,
    endpoint: Endpoint,
    upstream: UpstreamRuntime,
    resolve: (response: ProxyResponse) => void,
    reject: (err: unknown) => void,
  ) {
    this.#exchange = exchange;
    this.#endpoint = endpoint;
    this.#upstream = upstream;
    this.#resolve = resolve;
    this.#reject = reject;
    endpoint.inFlight += 1;
    exchange.signal.onAbort(this.#onAbort);
  }

  options(): Dispatcher.DispatchOptions {
    const { request, ledger } = this.#exchange;
    // concat sizes the copy exactly (a spread grows it as it goes).
    const headers = request.headers.concat('x-outrider-attempt', String(ledger.tries));
    // gRFC A6: a retried or hedged call tells the server how many tries went before.
    if (request.grpc && ledger.tries > 1) headers.push('grpc-previous-rpc-attempts', String(ledger.tries - 1));
    return {
      origin: this.#endpoint.origin,
      method: request.method,
      path: request.path,
      headers,
      body: request.body,
      // An upgrade request's 101 hands us the connection (onUpgrade); undici sends the
      // `connection: upgrade` and `upgrade` fields itself.
      upgrade: request.upgrade ?? null,
      // The signal is ours to watch (see #onAbort).
      blocking: false,
      // undici holds a non-idempotent request until the connection is otherwise idle, which on
      // HTTP/2 would send every POST (every gRPC call) one at a time. Whether a request may be
      // sent again is decided by retry and hedge, never by undici, which does not re-send.
      idempotent: true,
    };
  }

  /** The upstream switched protocols: the try is done, its connection is the tunnel's now. */
  onUpgrade(statusCode: number, rawHeaders: Buffer[] | string[] | null, socket: Duplex): void {
    if (this.#state !== 'waiting') {
      socket.destroy();
      return;
    }
    this.#settle();
    this.#upstream.recordOutcome(this.#endpoint, outcomeOfStatus(statusCode));
    const raw = (rawHeaders ?? []).map((h) => (typeof h === 'string' ? Buffer.from(h, 'latin1') : h));
    const headers = clientResponseHeaders(raw);
    const token = findHeader(raw.map((h) => h.toString('latin1')), 'upgrade') ?? this.#exchange.request.upgrade ?? '';
    headers.push('connection', 'upgrade', 'upgrade', token);
    this.#resolve({ status: statusCode, headers, body: NO_BODY, tunnel: socket });
  }

  // --- undici dispatch handler -------------------------------------------------------------

  onConnect(abort: (err?: Error) => void): void {
    this.#abortUpstream = abort;
    if (this.#exchange.signal.aborted) abort(this.#abortReason());
  }

  onHeaders(statusCode: number, rawHeaders: Buffer[], resume: () => void): boolean {
    if (statusCode < 200) return true; // 100 Continue and friends: wait for the real answer.
    this.#resumeUpstream = resume;
    const headers = clientResponseHeaders(rawHeaders);
    const { request } = this.#exchange;
    if (request.grpc) {
      const grpcStatus = parseGrpcStatus(findHeader(headers, 'grpc-status'));
      if (grpcStatus === undefined && statusCode === 200 && Buffer.isBuffer(request.body)) {
        this.#held = { status: statusCode, headers };
        return true;
      }
      this.#answer(statusCode, headers, grpcStatus);
      return true;
    }
    this.#answer(statusCode, headers, undefined);
    return true;
  }

  #answer(status: number, headers: string[], grpcStatus: number | undefined): void {
    this.#held = undefined;
    this.#state = 'streaming';
    this.#upstream.recordOutcome(this.#endpoint, outcomeOfStatus(status, grpcStatus));
    this.#resolve(grpcStatus === undefined ? { status, headers, body: this } : { status, headers, body: this, grpcStatus });
  }

  onData(chunk: Buffer): boolean {
    if (this.#held !== undefined) this.#answer(this.#held.status, this.#held.headers, undefined);
    if (this.#sink !== undefined) return this.#sink.write(chunk);
    if (this.#pending === undefined) this.#pending = [chunk];
    else this.#pending.push(chunk);
    this.#pendingBytes += chunk.length;
    return this.#pendingBytes < UNATTACHED_BUFFER_BYTES;
  }

  onComplete(trailers: Buffer[] | string[] | Record<string, string | string[]> | null): void {
    this.#trailers = flatTrailers(trailers);
    const held = this.#held;
    if (held !== undefined) this.#answer(held.status, held.headers, parseGrpcStatus(findHeader(this.#trailers ?? [], 'grpc-status')));
    this.#settle();
    if (this.#sink !== undefined) this.#sink.end(this.#trailers);
    else this.#ended = true;
  }

  onError(err: Error): void {
    if (this.#state === 'done') return; // already given up on (aborted before it connected)
    const wasWaiting = this.#state === 'waiting';
    this.#settle();
    const failure = this.#exchange.signal.aborted ? this.#abortReason() : classifyUpstreamError(err, this.#errorContext());
    if (wasWaiting) this.#upstream.recordOutcome(this.#endpoint, outcomeOfError(failure));
    if (wasWaiting) this.#reject(failure);
    else if (this.#sink !== undefined) this.#sink.fail(failure);
    else this.#failure = failure;
  }

  // --- ResponseBody ------------------------------------------------------------------------

  pipeTo(sink: BodySink): void {
    this.#sink = sink;
    const pending = this.#pending;
    this.#pending = undefined;
    // The whole body in hand already (most small answers): its last chunk goes with the end.
    const last = this.#ended && this.#failure === undefined && sink.endWith !== undefined ? pending?.pop() : undefined;
    let wantsMore = true;
    if (pending !== undefined) for (const chunk of pending) wantsMore = sink.write(chunk);
    if (this.#failure !== undefined) sink.fail(this.#failure);
    else if (last !== undefined) sink.endWith?.(last, this.#trailers);
    else if (this.#ended) sink.end(this.#trailers);
    else if (wantsMore) this.#resumeUpstream?.();
  }

  resume(): void {
    this.#resumeUpstream?.();
  }

  destroy(reason?: Error): void {
    if (this.#state === 'done') return;
    this.#abortUpstream?.(reason ?? new Error('response body abandoned'));
  }

  // --- internals ---------------------------------------------------------------------------

  readonly #onAbort = (): void => {
    if (this.#abortUpstream !== undefined) {
      this.#abortUpstream(this.#abortReason());
      return;
    }
    // Still queued in the pool, not connected: answer now; onConnect will abort it later.
    if (this.#state !== 'waiting') return;
    this.#settle();
    const reason = this.#abortReason();
    this.#upstream.recordOutcome(this.#endpoint, outcomeOfError(reason));
    this.#reject(reason);
  };

  #abortReason(): Error {
    return this.#exchange.signal.reason ?? new OutriderError('upstream-reset', 'request aborted', this.#errorContext());
  }

  /** Made only when an error needs it. */
  #errorContext(): ErrorContext {
    return { route: this.#exchange.route.name, upstream: this.#upstream.name };
  }

  /** The try is over: release the endpoint's in-flight count and the signal listener once. */
  #settle(): void {
    if (this.#state === 'done') return;
    this.#state = 'done';
    this.#endpoint.inFlight -= 1;
    this.#exchange.signal.offAbort(this.#onAbort);
  }
}

/**
 * Trailers as a flat [name, value, …] list, or undefined for none. undici gives HTTP/1.1's as
 * raw name/value Buffers and HTTP/2's as node:http2's header object.
 */
function flatTrailers(trailers: Buffer[] | string[] | Record<string, string | string[]> | null): string[] | undefined {
  if (trailers === null || (Array.isArray(trailers) && trailers.length === 0)) return undefined;
  const flat: string[] = [];
  if (Array.isArray(trailers)) {
    for (const t of trailers) flat.push(typeof t === 'string' ? t : t.toString('latin1'));
  } else {
    for (const [name, value] of Object.entries(trailers)) {
      if (Array.isArray(value)) for (const v of value) flat.push(name, v);
      else flat.push(name, String(value));
    }
  }
  return flat.length === 0 ? undefined : flat;
}
