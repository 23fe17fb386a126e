/**
 * The one interface every pattern implements. A route's policies become a chain of layers,
 * built once when the policy loads (pipeline/build.ts), outermost first as in LAYER_ORDER.
 *
 *   Handler: (exchange) => Promise<ProxyResponse>   — answer one request
 *   Layer:   (next: Handler) => Handler             — wrap the next handler with one concern
 *
 * A layer never mutates the exchange it got; to change the signal (a deadline, a hedge copy)
 * it passes a derived exchange down. Per-request bookkeeping shared by all layers (tries,
 * endpoints tried, the outcome for the access log) lives in the exchange's ledger.
 */
import type { IncomingMessage } from 'node:http';
import type { Http2ServerRequest } from 'node:http2';
import type { Duplex, Readable } from 'node:stream';
import type { RoutePolicy } from '../config/types.js';
import type { OutriderError } from '../errors.js';
import type { AttemptLedger } from './exchange.js';
import type { Signal } from './signal.js';

/** The client's request as node gives it: node:http's, or node:http2's compatibility request. */
export type ClientMessage = IncomingMessage | Http2ServerRequest;

/** The client side of an exchange: its connection (HTTP/1.1) or its stream (HTTP/2). */
export interface ClientChannel {
  readonly protocol: 'http1' | 'h2';
  /** Bytes moved either way so far; idleTimeout watches it. */
  bytesMoved(): number;
  /** Response bytes just written (HTTP/2 streams count their own). */
  wrote(bytes: number): void;
  /** Cut the exchange once its answer has begun: close the connection, or reset the stream (CANCEL). */
  reset(): void;
  /** The answer broke mid-body (the upstream failed): close the connection, or reset the stream (INTERNAL_ERROR). */
  break(): void;
}

/** A request body: none, the client's stream (read once), or bytes kept for replay. */
export type RequestBody = null | Readable | Buffer;

export interface ProxyRequest {
  readonly method: string;
  /** Origin-form target: path and query, as sent upstream. */
  readonly path: string;
  /** Authority the client addressed (absolute-form URI or Host header), port included. */
  readonly authority: string;
  /** Headers for the upstream as a flat [name, value, …] list: hop-by-hop removed, forwarding headers added. */
  readonly headers: readonly string[];
  readonly body: RequestBody;
  readonly requestId: string;
  readonly clientAddress: string;
  readonly listener: string;
  /** The client's request, for reading its headers (never for writing). */
  readonly incoming: ClientMessage;
  /** The client connection or HTTP/2 stream the request came on. */
  readonly client: ClientChannel;
  /** A gRPC call (`content-type: application/grpc` or `application/grpc+…`): errors are gRPC answers. */
  readonly grpc: boolean;
  /** Why the listener refused the request before routing (answered by the bad-request pipeline). */
  readonly refusal?: OutriderError | undefined;
  /**
   * The `Upgrade` token of an upgrade request (WebSocket and others): the upstream's `101`
   * turns the exchange into a tunnel, so retry, hedge and shadow step aside.
   */
  readonly upgrade?: string | undefined;
  /** The verified client certificate's SPIFFE URI or CN (TLS listeners with clientCa). */
  readonly clientIdentity?: string | undefined;
}

/** Where a response body is delivered: the client connection, or a buffer for aggregation. */
export interface BodySink {
  /** Returns false when the sink is full; the source then waits for `ResponseBody.resume()`. */
  write(chunk: Buffer): boolean;
  /** The body is complete; `trailers` (flat [name, value, …]) when the upstream sent some. */
  end(trailers?: readonly string[]): void;
  /**
   * Optional: write the body's last bytes and end, in one step. A source with the whole rest
   * of the body in hand calls it instead of write() then end() (node:http then sends the
   * response in one write, without a cork, an empty write and their ticks).
   */
  endWith?(chunk: Buffer, trailers?: readonly string[]): void;
  /** The body broke after its headers were sent (reset, deadline). */
  fail(err: Error): void;
}

export interface ResponseBody {
  /** Start delivering to the sink. Called at most once. */
  pipeTo(sink: BodySink): void;
  /** The sink drained: deliver more. */
  resume(): void;
  /** Abandon the body and release its connection (hedge loser, client gone). */
  destroy(reason?: Error): void;
}

export interface ProxyResponse {
  readonly status: number;
  /** Flat [name, value, …] list, hop-by-hop removed. Outer layers may append to it. */
  readonly headers: string[];
  readonly body: ResponseBody;
  /** A gRPC call's grpc-status when known as the answer is handed over (trailers-only, or held until trailers). */
  readonly grpcStatus?: number | undefined;
  /** After an upgrade's `101`: the upstream connection, to be joined to the client's. */
  readonly tunnel?: Duplex | undefined;
}

/** What layers may know of their route: the frozen policy slice and its name. */
export interface RouteInfo {
  readonly name: string;
  /** Undefined for a request that matched no route. */
  readonly policy: RoutePolicy | undefined;
}

export const NO_ROUTE: RouteInfo = Object.freeze({ name: '', policy: undefined });

/** One request's trip through a route's pipeline. */
export interface Exchange {
  readonly request: ProxyRequest;
  readonly route: RouteInfo;
  /** Aborted when the client goes away, the deadline passes, or a hedge copy lost. */
  readonly signal: Signal;
  readonly ledger: AttemptLedger;
}

export type Handler = (exchange: Exchange) => Promise<ProxyResponse>;

export type Layer = (next: Handler) => Handler;

/** The same exchange seen through another signal (a deadline, a hedge copy's own abort). */
export function withSignal(exchange: Exchange, signal: Signal): Exchange {
  return { request: exchange.request, route: exchange.route, ledger: exchange.ledger, signal };
}
