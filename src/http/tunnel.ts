/**
 * Two connections joined into one tunnel (after a CONNECT's 200 or an upgrade's 101): bytes
 * flow both ways with backpressure (stream.pipe pauses the faster side), a half-close is passed
 * on as a half-close, and a reset or error on either side resets the other. When both sides are
 * gone `onClose` is told once, with the bytes each way, for the tunnel metrics.
 */
import type { Duplex } from 'node:stream';

export interface TunnelBytes {
  /** From the client to the upstream. */
  readonly sent: number;
  /** From the upstream to the client. */
  readonly received: number;
}

export class Tunnel {
  readonly #client: Duplex;
  readonly #upstream: Duplex;
  #sent = 0;
  #received = 0;
  #closed = 0;
  #onClose: (bytes: TunnelBytes) => void = () => {};

  constructor(client: Duplex, upstream: Duplex) {
    this.#client = client;
    this.#upstream = upstream;
  }

  /**
   * Start the flow; `clientHead` is bytes the client sent past the handshake. `onClose` is told
   * once, when both sides are gone.
   */
  open(clientHead: Buffer, onClose: (bytes: TunnelBytes) => void): void {
    this.#onClose = onClose;
    const client = this.#client;
    const upstream = this.#upstream;
    if (clientHead.length > 0) this.#sendUp(clientHead);
    client.on('data', (chunk: Buffer) => this.#sendUp(chunk));
    upstream.on('data', (chunk: Buffer) => this.#sendDown(chunk));
    // A half-close travels as a half-close: the other side may still answer.
    client.on('end', () => upstream.end());
    upstream.on('end', () => client.end());
    // A reset travels as a reset; an error anywhere ends both.
    client.on('error', () => reset(upstream));
    upstream.on('error', () => reset(client));
    client.on('close', () => this.#sideClosed(upstream));
    upstream.on('close', () => this.#sideClosed(client));
    client.resume();
    upstream.resume();
  }

  /** End the tunnel now (drain timeout, idle timeout). */
  close(): void {
    reset(this.#client);
    reset(this.#upstream);
  }

  #sendUp(chunk: Buffer): void {
    this.#sent += chunk.length;
    if (!this.#upstream.write(chunk)) {
      this.#client.pause();
      this.#upstream.once('drain', () => this.#client.resume());
    }
  }

  #sendDown(chunk: Buffer): void {
    this.#received += chunk.length;
    if (!this.#client.write(chunk)) {
      this.#upstream.pause();
      this.#client.once('drain', () => this.#upstream.resume());
    }
  }

  #sideClosed(other: Duplex): void {
    // What the other side still holds is flushed, then it is closed too.
    if (!other.destroyed) other.end();
    if (++this.#closed === 2) this.#onClose({ sent: this.#sent, received: this.#received });
  }
}

function reset(socket: Duplex): void {
  if (socket.destroyed) return;
  const resettable = socket as Duplex & { resetAndDestroy?: () => void };
  if (typeof resettable.resetAndDestroy === 'function' && (socket as { connecting?: boolean }).connecting !== true) resettable.resetAndDestroy();
  else socket.destroy();
}
