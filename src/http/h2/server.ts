/**
 * The HTTP/2 half of a listener: a node:http2 server that never listens itself. The listener
 * hands it the connections that spoke HTTP/2 (the preface on a plain port, ALPN `h2` on a TLS
 * one), and its compatibility API gives requests and responses shaped like node:http's, so the
 * pipeline does not depend on the client's protocol version.
 *
 * Where the HTTP/2-specific attacks stop (docs/security.md, "HTTP/2"; each has a test in
 * test/hardening/h2-attacks.test.ts, with what node 20.20 and its nghttp2 1.61 did):
 * - rapid reset (CVE-2023-44487): nghttp2's own reset limit (a burst of 1000, then 33/s) ends
 *   the session with GOAWAY; node 20 cannot tune it (streamResetBurst came in later node). The
 *   listener aborts each reset stream's exchange, so none of them reaches the upstream.
 * - CONTINUATION floods (CVE-2024-27983): nghttp2 allows 8 CONTINUATION frames per block.
 * - SETTINGS and PING floods: nghttp2 destroys a session with 1000 unsent acknowledgements.
 * - too many streams: maxConcurrentStreams below (extra streams get REFUSED_STREAM); too many
 *   SETTINGS entries: maxSettings; header lists: maxHeaderListSize here, and the request screen
 *   for a client that never acknowledges our SETTINGS (nghttp2 applies the size only after).
 * After nghttp2's own GOAWAY node stops reading; the idle timeout below closes the socket.
 */
import { createServer, Http2ServerRequest, type Http2Server, type Http2ServerResponse, type ServerHttp2Session, type ServerHttp2Stream } from 'node:http2';
import type { Socket } from 'node:net';
import type { ListenerLimits } from '../limits.js';

export interface H2Limits {
  /** SETTINGS_MAX_CONCURRENT_STREAMS we advertise; more open streams are refused (RST_STREAM REFUSED_STREAM). */
  readonly maxConcurrentStreams: number;
  /** Unanswered PINGs of our own outstanding (node's option; client floods are nghttp2's to stop). */
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
      // A stream we reset with an error code (a broken answer) emits 'error'; it must never be unhandled.
      stream.on('error', ignore);
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
