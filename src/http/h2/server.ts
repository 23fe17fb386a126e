/**
 * The HTTP/2 half of a listener: a node:http2 server that never listens itself. The listener
 * hands it the connections that spoke HTTP/2 (the preface on a plain port, ALPN `h2` on a TLS
 * one), and its compatibility API gives requests and responses shaped like node:http's, so the
 * pipeline does not depend on the client's protocol version.
 *
 * The limits below are where the HTTP/2-specific attacks stop (docs/security.md, "HTTP/2"):
 * rapid reset (CVE-2023-44487) by node's reset-rate guard and the concurrent-stream cap,
 * CONTINUATION floods (CVE-2024-27983) by the header-list size and nghttp2's own cap,
 * SETTINGS and PING floods by the outstanding-frame limits, each ending the session with
 * GOAWAY ENHANCE_YOUR_CALM or a reset, never the process.
 */
import { createServer, Http2ServerRequest, type Http2Server, type Http2ServerResponse, type ServerHttp2Session, type ServerHttp2Stream } from 'node:http2';
import type { Socket } from 'node:net';
import type { ListenerLimits } from '../limits.js';

export interface H2Limits {
  /** SETTINGS_MAX_CONCURRENT_STREAMS we advertise; more open streams are refused (RST_STREAM REFUSED_STREAM). */
  readonly maxConcurrentStreams: number;
  /** Unanswered PINGs a client may have outstanding before the session is closed. */
  readonly maxOutstandingPings: number;
  /** SETTINGS entries per frame. */
  readonly maxSettings: number;
  /** Memory (MiB) one session may use for its frames and headers before new streams are refused. */
  readonly maxSessionMemoryMiB: number;
  /** Invalid frames, and streams refused for the client's fault, before the session is ended. */
  readonly maxSessionInvalidFrames: number;
  readonly maxSessionRejectedStreams: number;
}

export const H2_LIMITS: H2Limits = Object.freeze({
  // Envoy's edge guidance; gRPC clients open a second connection past it.
  maxConcurrentStreams: 100,
  maxOutstandingPings: 10,
  maxSettings: 32,
  maxSessionMemoryMiB: 10,
  maxSessionInvalidFrames: 100,
  maxSessionRejectedStreams: 100,
});

/**
 * node:http2's request, counting the body bytes it receives: the route's idleTimeout watches
 * one stream's bytes, not its connection's (which its neighbours keep busy). A listener on the
 * stream's own 'data' would race the request for the bytes; node lets the class be extended.
 */
export class H2Request extends Http2ServerRequest {
  bytesReceived = 0;

  override push(chunk: unknown, encoding?: BufferEncoding): boolean {
    if (chunk !== null && chunk !== undefined) this.bytesReceived += (chunk as Buffer).length;
    return super.push(chunk, encoding);
  }
}

export type H2RequestHandler = (req: Http2ServerRequest, res: Http2ServerResponse) => void;

export class H2Server {
  readonly #server: Http2Server;
  readonly #sessions = new Set<ServerHttp2Session>();
  readonly #idleMs: number;
  #draining = false;
  #streams = 0;

  constructor(limits: ListenerLimits, h2: H2Limits, onRequest: H2RequestHandler) {
    this.#idleMs = limits.keepAliveTimeoutMs;
    this.#server = createServer(
      {
        settings: { maxConcurrentStreams: h2.maxConcurrentStreams, maxHeaderListSize: limits.maxHeaderBytes, enablePush: false },
        // Pseudo-headers count as pairs too; the screen refuses more than maxHeaders real ones.
        maxHeaderListPairs: limits.maxHeaders + 8,
        maxOutstandingPings: h2.maxOutstandingPings,
        maxSettings: h2.maxSettings,
        maxSessionMemory: h2.maxSessionMemoryMiB,
        maxSessionInvalidFrames: h2.maxSessionInvalidFrames,
        maxSessionRejectedStreams: h2.maxSessionRejectedStreams,
        Http2ServerRequest: H2Request,
      },
      onRequest,
    );
    this.#server.on('session', (session: ServerHttp2Session) => this.#track(session));
    this.#server.on('stream', (stream: ServerHttp2Stream) => {
      this.#streams += 1;
      stream.once('close', () => (this.#streams -= 1));
    });
  }

  /** Serve HTTP/2 on a connection the listener accepted (plain after the preface, or TLS after ALPN). */
  accept(socket: Socket): void {
    if (this.#draining) return void socket.destroy();
    this.#server.emit('connection', socket);
  }

  get sessions(): number {
    return this.#sessions.size;
  }

  /** Open streams over all sessions. */
  get streams(): number {
    return this.#streams;
  }

  /** GOAWAY to every client: no new streams, those open finish. */
  drain(): void {
    this.#draining = true;
    for (const session of this.#sessions) session.close();
  }

  /** What is left after the drain timeout: cut. */
  destroyAll(): void {
    for (const session of this.#sessions) session.destroy();
  }

  #track(session: ServerHttp2Session): void {
    this.#sessions.add(session);
    // A reset or a protocol error from the client ends its session, never the process.
    session.on('error', ignore);
    session.once('close', () => this.#sessions.delete(session));
    // A connection with no stream activity this long is sent GOAWAY (HTTP/1.1's keep-alive timeout).
    session.setTimeout(this.#idleMs, () => session.close());
    if (this.#draining) session.close();
  }
}

function ignore(): void {
  // The session is already torn down by node; the listener keeps serving everyone else.
}
