/**
 * HTTP/2 to one endpoint (`protocol: h2c` or `h2`) on node:http2 directly, in place of undici's
 * Pool: undici holds any request whose body is a stream until its connection has nothing else
 * in flight, and does not move it to another connection, so a second streaming gRPC call waited
 * behind the first for as long as the first lived (a test with two bidi calls found it). Here
 * every call is a stream of a shared session, streaming bodies included.
 *
 * It speaks undici's dispatch-handler callbacks (onConnect, onHeaders, onData, onComplete,
 * onError), so the forward step (forward.ts) drives both the same way. Sessions: up to
 * `connections`, each carrying up to H2_STREAMS_PER_CONNECTION streams (fewer if the upstream's
 * SETTINGS say so); a request that finds every session full waits for a stream to end.
 */
import { connect, constants, type ClientHttp2Session, type ClientHttp2Stream, type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http2';
import { connect as connectTcp } from 'node:net';
import { connect as connectTls, type ConnectionOptions, type TLSSocket } from 'node:tls';
import { pipeline, type Readable } from 'node:stream';
import type { Duplex } from 'node:stream';
import type { Dispatcher } from 'undici';

export interface H2PoolOptions {
  readonly connections: number;
  readonly streamsPerConnection: number;
  readonly connectTimeoutMs: number;
  readonly idleTimeoutMs: number;
  readonly maxHeaderListBytes: number;
  /** For `h2`: TLS options (servername, ca, cert, key); the upstream must choose h2 by ALPN. */
  readonly tls?: ConnectionOptions | undefined;
}

type Handler = Dispatcher.DispatchHandler;

/**
 * http/1.1 is offered too, so that a server which speaks only it completes the handshake and
 * the try fails saying why (below) rather than with a TLS "no application protocol" alert.
 */
const H2_ALPN = ['h2', 'http/1.1'];

interface Session {
  readonly http2: ClientHttp2Session;
  active: number;
  connected: boolean;
  /** GOAWAY received or closing: no new streams. */
  retired: boolean;
  idleTimer: NodeJS.Timeout | undefined;
}

export class H2Pool {
  readonly #origin: URL;
  readonly #options: H2PoolOptions;
  readonly #sessions: Session[] = [];
  readonly #waiting: (() => void)[] = [];
  #closed = false;

  constructor(origin: string, options: H2PoolOptions) {
    this.#origin = new URL(origin);
    this.#options = options;
  }

  /** undici's PoolStats, the two fields /status shows. */
  get stats(): { readonly connected: number; readonly running: number } {
    let connected = 0;
    let running = 0;
    for (const session of this.#sessions) {
      if (session.connected) connected++;
      running += session.active;
    }
    return { connected, running };
  }

  dispatch(options: Dispatcher.DispatchOptions, handler: Handler): boolean {
    if (options.upgrade) {
      handler.onError?.(new Error(`an upgrade (${String(options.upgrade)}) cannot be sent over HTTP/2: give this upstream protocol http1`));
      return true;
    }
    const session = this.#sessionWithRoom();
    if (session === undefined) this.#waiting.push(() => this.dispatch(options, handler));
    else new H2Call(session, this, options, handler);
    return true;
  }

  async close(): Promise<void> {
    this.#closed = true;
    await Promise.all(
      this.#sessions.map((s) => {
        // node defers close() on a session still connecting until it connects, which may be never.
        if (!s.connected) return void s.http2.destroy();
        return new Promise<void>((resolve) => (s.http2.closed ? resolve() : s.http2.close(() => resolve())));
      }),
    );
  }

  /** A stream ended on `session`: its slot goes to whoever waits; an idle session closes later. */
  release(session: Session): void {
    session.active -= 1;
    const next = this.#waiting.shift();
    if (next !== undefined) return next();
    if (session.active === 0 && !session.retired) {
      session.idleTimer = setTimeout(() => this.#retire(session), this.#options.idleTimeoutMs);
      session.idleTimer.unref();
    }
  }

  #sessionWithRoom(): Session | undefined {
    for (const session of this.#sessions) {
      if (!session.retired && session.active < this.#limit(session)) return this.#claim(session);
    }
    if (this.#sessions.length >= this.#options.connections || this.#closed) return undefined;
    return this.#claim(this.#open());
  }

  #claim(session: Session): Session {
    clearTimeout(session.idleTimer);
    session.active += 1;
    return session;
  }

  #limit(session: Session): number {
    return Math.min(this.#options.streamsPerConnection, session.http2.remoteSettings.maxConcurrentStreams ?? Infinity);
  }

  #open(): Session {
    const { tls, connectTimeoutMs, maxHeaderListBytes } = this.#options;
    const host = this.#origin.hostname.replace(/^\[|\]$/g, '');
    const port = Number(this.#origin.port || (tls === undefined ? 80 : 443));
    const http2 = connect(this.#origin, {
      settings: { enablePush: false, maxHeaderListSize: maxHeaderListBytes },
      createConnection: (): Duplex => (tls === undefined ? connectTcp({ host, port }) : connectTls({ ...tls, host, port, ALPNProtocols: H2_ALPN })),
    });
    const session: Session = { http2, active: 0, connected: false, retired: false, idleTimer: undefined };
    this.#sessions.push(session);
    const timer = setTimeout(() => {
      http2.destroy(coded(`connect timeout after ${connectTimeoutMs} ms to ${this.#origin.host}`, 'UND_ERR_CONNECT_TIMEOUT'));
      this.#forget(session);
    }, connectTimeoutMs);
    http2.once('connect', (_session, socket) => {
      clearTimeout(timer);
      const alpn = (socket as TLSSocket).alpnProtocol;
      if (tls !== undefined && alpn !== 'h2') {
        const chose = alpn === false || alpn === undefined || alpn === null ? 'none' : alpn;
        http2.destroy(coded(`${this.#origin.origin} did not agree to HTTP/2 by ALPN (it chose ${chose}); protocol h2 requires it, auto allows HTTP/1.1`, 'ERR_ALPN_NOT_H2'));
        return;
      }
      session.connected = true;
    });
    // Errors reach each stream as its own 'error'; the session's is only logged by them.
    http2.on('error', () => clearTimeout(timer));
    http2.on('goaway', () => (session.retired = true));
    http2.once('close', () => {
      clearTimeout(timer);
      clearTimeout(session.idleTimer);
      session.retired = true;
      this.#forget(session);
      // Whoever waited for room may find it in a new session now.
      const waiting = this.#waiting.splice(0);
      for (const retry of waiting) retry();
    });
    return session;
  }

  #forget(session: Session): void {
    session.retired = true;
    const index = this.#sessions.indexOf(session);
    if (index !== -1) this.#sessions.splice(index, 1);
  }

  #retire(session: Session): void {
    session.retired = true;
    session.http2.close();
  }
}

/** One request as one stream, reported to undici-style handler callbacks. */
class H2Call {
  readonly #pool: H2Pool;
  readonly #session: Session;
  readonly #handler: Handler;
  readonly #stream: ClientHttp2Stream;
  #done = false;
  #trailers: IncomingHttpHeaders | undefined;

  constructor(session: Session, pool: H2Pool, options: Dispatcher.DispatchOptions, handler: Handler) {
    this.#pool = pool;
    this.#session = session;
    this.#handler = handler;
    const body = options.body as Buffer | Readable | null | undefined;
    this.#stream = session.http2.request(requestHeaders(options), { endStream: body === null || body === undefined });
    const stream = this.#stream;
    stream.once('close', this.#onClose);
    stream.once('error', this.#fail);
    stream.once('response', this.#onResponse);
    stream.on('data', this.#onData);
    stream.once('trailers', (trailers: IncomingHttpHeaders) => (this.#trailers = trailers));
    stream.once('end', this.#onEnd);
    handler.onConnect?.(this.#abort);
    if (this.#done) return;
    if (Buffer.isBuffer(body)) stream.end(body);
    else if (body !== null && body !== undefined) pipeline(body, stream, (err) => err && this.#abort(err));
  }

  readonly #abort = (reason?: Error): void => {
    if (this.#done) return;
    if (!this.#stream.destroyed) this.#stream.close(constants.NGHTTP2_CANCEL);
    this.#fail(reason ?? new Error('request aborted'));
  };

  readonly #fail = (err: Error): void => {
    if (this.#done) return;
    this.#done = true;
    // A stream that never started because its session failed carries the session's error
    // (refused, ALPN, connect timeout) as its cause: that is what classifies the failure.
    const cause = (err as NodeJS.ErrnoException).code === 'ERR_HTTP2_STREAM_CANCEL' ? err.cause : undefined;
    this.#handler.onError?.(cause instanceof Error ? cause : err);
  };

  readonly #onResponse = (headers: IncomingHttpHeaders): void => {
    const status = Number(headers[':status']);
    const raw: Buffer[] = [];
    for (const [name, value] of Object.entries(headers)) {
      if (name.charCodeAt(0) === 0x3a) continue;
      for (const v of Array.isArray(value) ? value : [value]) raw.push(Buffer.from(name, 'latin1'), Buffer.from(String(v), 'latin1'));
    }
    if (this.#handler.onHeaders?.(status, raw, this.#resume, '') === false) this.#stream.pause();
  };

  readonly #resume = (): void => void this.#stream.resume();

  readonly #onData = (chunk: Buffer): void => {
    if (this.#done) return;
    if (this.#handler.onData?.(chunk) === false) this.#stream.pause();
  };

  readonly #onEnd = (): void => {
    if (this.#done) return;
    this.#done = true;
    this.#handler.onComplete?.((this.#trailers ?? null) as unknown as string[] | null);
  };

  readonly #onClose = (): void => {
    this.#pool.release(this.#session);
    if (this.#done) return;
    const code = this.#stream.rstCode;
    this.#fail(coded(`the upstream closed the stream before the answer was complete (RST_STREAM ${code ?? 'none'})`, 'UND_ERR_SOCKET'));
  };
}

/** The pseudo-headers and the fields, lower case as HTTP/2 wants them (Host becomes :authority). */
function requestHeaders(options: Dispatcher.DispatchOptions): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = { ':method': options.method, ':path': options.path };
  const flat = options.headers as string[];
  let authority: string | undefined;
  for (let i = 0; i < flat.length; i += 2) {
    const name = (flat[i] as string).toLowerCase();
    const value = flat[i + 1] as string;
    if (name === 'host') {
      authority = value;
      continue;
    }
    const seen = out[name];
    if (seen === undefined) out[name] = value;
    else if (name === 'cookie') out[name] = `${String(seen)}; ${value}`;
    else out[name] = Array.isArray(seen) ? [...seen, value] : [String(seen), value];
  }
  // The forward step always sends Host (the authority the client addressed).
  if (authority !== undefined) out[':authority'] = authority;
  return out;
}

function coded(message: string, code: string): Error {
  return Object.assign(new Error(message), { code });
}
