/**
 * The terminal step of a route (Envoy's router): pick an endpoint, send one try through its
 * undici Pool, and hand back the response as soon as its headers arrive, with the body still
 * streaming. One handler object per try does everything (no per-request closures), using
 * undici's dispatch API with raw headers, which measured fastest here (bench/RESULTS.md, "Profile").
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
  readonly #context: ErrorContext;
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
    this.#context = { route: exchange.route.name, upstream: upstream.name };
    this.#resolve = resolve;
    this.#reject = reject;
    endpoint.inFlight += 1;
    exchange.signal.onAbort(this.#onAbort);
  }

  options(): Dispatcher.DispatchOptions {
    const { request, ledger } = this.#exchange;
    return {
      origin: this.#endpoint.origin,
      method: request.method,
      path: request.path,
      headers: [...request.headers, 'x-outrider-attempt', String(ledger.tries)],
      body: request.body,
      // An upgrade request's 101 hands us the connection (onUpgrade); undici sends the
      // `connection: upgrade` and `upgrade` fields itself.
      upgrade: request.upgrade ?? null,
      // The signal is ours to watch (see #onAbort).
      blocking: false,
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
    this.#state = 'streaming';
    this.#upstream.recordOutcome(this.#endpoint, outcomeOfStatus(statusCode));
    this.#resolve({ status: statusCode, headers: clientResponseHeaders(rawHeaders), body: this });
    return true;
  }

  onData(chunk: Buffer): boolean {
    if (this.#sink !== undefined) return this.#sink.write(chunk);
    (this.#pending ??= []).push(chunk);
    this.#pendingBytes += chunk.length;
    return this.#pendingBytes < UNATTACHED_BUFFER_BYTES;
  }

  onComplete(trailers: Buffer[] | string[] | null): void {
    this.#settle();
    this.#trailers = trailers === null || trailers.length === 0 ? undefined : trailers.map((t) => (typeof t === 'string' ? t : t.toString('latin1')));
    if (this.#sink !== undefined) this.#sink.end(this.#trailers);
    else this.#ended = true;
  }

  onError(err: Error): void {
    if (this.#state === 'done') return; // already given up on (aborted before it connected)
    const wasWaiting = this.#state === 'waiting';
    this.#settle();
    const failure = this.#exchange.signal.aborted ? this.#abortReason() : classifyUpstreamError(err, this.#context);
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
    let wantsMore = true;
    if (pending !== undefined) for (const chunk of pending) wantsMore = sink.write(chunk);
    if (this.#failure !== undefined) sink.fail(this.#failure);
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
    return this.#exchange.signal.reason ?? new OutriderError('upstream-reset', 'request aborted', this.#context);
  }

  /** The try is over: release the endpoint's in-flight count and the signal listener once. */
  #settle(): void {
    if (this.#state === 'done') return;
    this.#state = 'done';
    this.#endpoint.inFlight -= 1;
    this.#exchange.signal.offAbort(this.#onAbort);
  }
}
