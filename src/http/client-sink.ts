import type { BodySink, ClientChannel, ResponseBody } from '../pipeline/layer.js';
import type { AttemptLedger } from '../pipeline/exchange.js';
import { parseGrpcStatus } from '../grpc/status.js';
import { findHeader } from './headers.js';

/** What a response body is written to: node:http's ServerResponse or node:http2's compatibility response. */
export interface ResponseWriter {
  write(chunk: Buffer): boolean;
  readonly writableLength: number;
  once(event: 'drain', listener: () => void): unknown;
  addTrailers(trailers: Record<string, string>): void;
  end(): unknown;
  end(chunk: Buffer): unknown;
}

/**
 * Streams a response body into the client connection. It keeps taking bytes while less than
 * `bufferBytes` wait to be sent, so a slow reader does not hold the upstream connection for a
 * response that fits (nginx's proxy buffers); past that it pauses the source until the client
 * has read everything queued ('drain').
 */
export class ClientSink implements BodySink {
  readonly #res: ResponseWriter;
  readonly #body: ResponseBody;
  readonly #bufferBytes: number;
  readonly #client: ClientChannel;
  /** A gRPC call's ledger, which learns the grpc-status from the trailers. */
  readonly #grpcLedger: AttemptLedger | undefined;
  #waitingForDrain = false;

  constructor(res: ResponseWriter, body: ResponseBody, bufferBytes: number, client: ClientChannel, grpcLedger?: AttemptLedger) {
    this.#res = res;
    this.#body = body;
    this.#bufferBytes = bufferBytes;
    this.#client = client;
    this.#grpcLedger = grpcLedger;
  }

  write(chunk: Buffer): boolean {
    this.#client.wrote(chunk.length);
    if (this.#res.write(chunk) || this.#res.writableLength < this.#bufferBytes) return true;
    if (!this.#waitingForDrain) {
      this.#waitingForDrain = true;
      this.#res.once('drain', this.#onDrain);
    }
    return false;
  }

  end(trailers?: readonly string[]): void {
    this.#trailers(trailers);
    this.#res.end();
  }

  endWith(chunk: Buffer, trailers?: readonly string[]): void {
    this.#client.wrote(chunk.length);
    this.#trailers(trailers);
    this.#res.end(chunk);
  }

  #trailers(trailers: readonly string[] | undefined): void {
    if (trailers === undefined) return;
    // HTTP/1.1: sent only with chunked framing (node drops them otherwise, as HTTP/1.0 would). HTTP/2: a HEADERS frame.
    this.#res.addTrailers(fields(trailers));
    if (this.#grpcLedger !== undefined) this.#grpcLedger.grpcStatus = parseGrpcStatus(findHeader(trailers, 'grpc-status')) ?? this.#grpcLedger.grpcStatus;
  }

  fail(): void {
    // Headers are out; the only honest signal left is to cut the connection (HTTP/2: the stream).
    this.#client.break();
  }

  readonly #onDrain = (): void => {
    this.#waitingForDrain = false;
    this.#body.resume();
  };
}

/** node:http2's addTrailers takes an object only; repeated names are joined (RFC 9110 §5.3). */
function fields(flat: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 0; i < flat.length; i += 2) {
    const name = (flat[i] as string).toLowerCase();
    const value = flat[i + 1] as string;
    out[name] = out[name] === undefined ? value : `${out[name]}, ${value}`;
  }
  return out;
}
