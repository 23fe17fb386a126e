/**
 * The client side of one exchange, whatever the protocol: what the route's idleTimeout watches
 * and what it cuts. On HTTP/1.1 that is the connection (its byte counters, a close); on
 * HTTP/2 it is the stream: many share a connection, so a stalled stream must be seen as
 * stalled while its neighbours talk, and cutting it must not cut them (RST_STREAM CANCEL).
 */
import { constants, type ServerHttp2Stream } from 'node:http2';
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
}

class H2Channel implements ClientChannel {
  readonly protocol = 'h2';
  readonly #stream: ServerHttp2Stream;
  #moved = 0;

  constructor(stream: ServerHttp2Stream) {
    this.#stream = stream;
    // One more listener on data the compatibility request already reads: a counter per stream.
    stream.on('data', (chunk: Buffer) => (this.#moved += chunk.length));
  }

  bytesMoved(): number {
    return this.#moved;
  }

  wrote(bytes: number): void {
    this.#moved += bytes;
  }

  reset(): void {
    if (!this.#stream.destroyed) this.#stream.close(constants.NGHTTP2_CANCEL);
  }
}

/** One per connection: every request on a keep-alive connection shares it. */
const channels = new WeakMap<Socket, Http1Channel>();

export function http1Channel(socket: Socket): ClientChannel {
  let channel = channels.get(socket);
  if (channel === undefined) channels.set(socket, (channel = new Http1Channel(socket)));
  return channel;
}

export function h2Channel(stream: ServerHttp2Stream): ClientChannel {
  return new H2Channel(stream);
}
