/**
 * The client side of one exchange, whatever the protocol: what the route's idleTimeout watches
 * and what it cuts. On HTTP/1.1 that is the connection (its byte counters, a close); on
 * HTTP/2 it is the stream: many share a connection, so a stalled stream must be seen as
 * stalled while its neighbours talk, and cutting it must not cut them (RST_STREAM CANCEL).
 */
import { constants } from 'node:http2';
import type { H2Request } from './h2/server.js';
import type { Socket } from 'node:net';
import type { ClientChannel } from '../pipeline/layer.js';

class Http1Channel implements ClientChannel {
  readonly protocol = 'http1';
  readonly #socket: Socket;

  constructor(socket: Socket) {
    this.#socket = socket;
  }

  bytesMoved(): number {
    return this.#socket.bytesRead + this.#socket.bytesWritten;
  }

  wrote(): void {
    // The socket counts for itself.
  }

  reset(): void {
    this.#socket.destroy();
  }

  break(): void {
    this.#socket.destroy();
  }
}

class H2Channel implements ClientChannel {
  readonly protocol = 'h2';
  readonly #request: H2Request;
  #written = 0;

  constructor(request: H2Request) {
    this.#request = request;
  }

  bytesMoved(): number {
    return this.#request.bytesReceived + this.#written;
  }

  wrote(bytes: number): void {
    this.#written += bytes;
  }

  reset(): void {
    this.#close(constants.NGHTTP2_CANCEL);
  }

  break(): void {
    // gRPC clients read INTERNAL_ERROR as INTERNAL: the answer is incomplete, not cancelled.
    this.#close(constants.NGHTTP2_INTERNAL_ERROR);
  }

  #close(code: number): void {
    const stream = this.#request.stream;
    if (!stream.destroyed) stream.close(code);
  }
}

/** One per connection: every request on a keep-alive connection shares it. */
const channels = new WeakMap<Socket, Http1Channel>();

export function http1Channel(socket: Socket): ClientChannel {
  let channel = channels.get(socket);
  if (channel === undefined) channels.set(socket, (channel = new Http1Channel(socket)));
  return channel;
}

export function h2Channel(request: H2Request): ClientChannel {
  return new H2Channel(request);
}
