import type { ServerResponse } from 'node:http';
import type { BodySink, ResponseBody } from '../pipeline/layer.js';

/**
 * Streams a response body into the client connection. It keeps taking bytes while less than
 * `bufferBytes` wait to be sent, so a slow reader does not hold the upstream connection for a
 * response that fits (nginx's proxy buffers); past that it pauses the source until the client
 * has read everything queued ('drain').
 */
export class ClientSink implements BodySink {
  readonly #res: ServerResponse;
  readonly #body: ResponseBody;
  readonly #bufferBytes: number;
  #waitingForDrain = false;

  constructor(res: ServerResponse, body: ResponseBody, bufferBytes: number) {
    this.#res = res;
    this.#body = body;
    this.#bufferBytes = bufferBytes;
  }

  write(chunk: Buffer): boolean {
    if (this.#res.write(chunk) || this.#res.writableLength < this.#bufferBytes) return true;
    if (!this.#waitingForDrain) {
      this.#waitingForDrain = true;
      this.#res.once('drain', this.#onDrain);
    }
    return false;
  }

  end(trailers?: readonly string[]): void {
    // Sent only with chunked framing (node drops them otherwise, as HTTP/1.0 would).
    if (trailers !== undefined) this.#res.addTrailers(pairs(trailers));
    this.#res.end();
  }

  fail(): void {
    // Headers are out; the only honest signal left is to cut the connection.
    this.#res.destroy();
  }

  readonly #onDrain = (): void => {
    this.#waitingForDrain = false;
    this.#body.resume();
  };
}

function pairs(flat: readonly string[]): [string, string][] {
  const out: [string, string][] = [];
  for (let i = 0; i < flat.length; i += 2) out.push([flat[i] as string, flat[i + 1] as string]);
  return out;
}
