/**
 * One keep-alive HTTP/1.1 client connection over a raw `net.Socket`, one request in flight.
 *
 * Why not undici or `http.Agent`: the generator shares a core with the upstream, and every
 * microsecond it spends per request is CPU taken from the upstream and delay added to the very
 * latency it measures. Writing a pre-encoded request and scanning the response for its framing
 * (status line, Content-Length or chunked, Connection: close) costs a fraction of a full HTTP
 * client (see bench/README.md for the measured numbers), and it allocates nothing per request
 * except the socket's own chunks. It understands exactly what the bench's targets send.
 */
import net from 'node:net';
import tls from 'node:tls';
import type { TlsSpec } from './protocol.js';

/**
 * How a request ended: an HTTP status (with the `x-outrider-error` code, if any), a WebSocket
 * upgrade answered with something else than 101, or a transport failure (`tls`: the TCP
 * connection opened but the handshake failed, certificate verification included; `mismatch`: a
 * WebSocket echo that was not byte for byte what was sent).
 */
export type Outcome =
  | { readonly kind: 'response'; readonly status: number; readonly errorCode: string | undefined }
  | { readonly kind: 'upgrade'; readonly status: number; readonly errorCode: string | undefined }
  | { readonly kind: 'connect' | 'tls' | 'reset' | 'timeout' | 'parse' | 'mismatch' };

/** What the generator drives: one request (or message) in flight per connection. */
export interface ClientConnection {
  readonly busy: boolean;
  /** performance.now() when the current request was written; 0 when idle. */
  readonly startedAt: number;
  /** When the request that finished last was written (read in the outcome callback). */
  readonly lastStartedAt: number;
  /** Opaque per-request value owned by the caller (the intended send time). */
  readonly intended: number;
  /** Sockets opened so far (TLS handshakes, WebSocket upgrades). */
  readonly opened: number;
  preconnect(): Promise<boolean>;
  send(now: number, intended: number): void;
  abort(kind: 'timeout'): void;
  close(): void;
}

export type OnOutcome = (conn: ClientConnection, outcome: Outcome) => void;

/**
 * A TCP socket, or a TLS one verified against `spec.ca`. `onUp` runs once the connection can
 * carry a request (after the handshake for TLS); `tcpUp()` tells a refused connection from a
 * failed handshake.
 */
export function openSocket(host: string, port: number, spec: TlsSpec | undefined, onUp: () => void): { socket: net.Socket; tcpUp: () => boolean } {
  let tcp = false;
  const socket = spec
    ? tls.connect({ host, port, ca: spec.ca, servername: spec.servername, rejectUnauthorized: true })
    : net.connect({ host, port, noDelay: true });
  if (spec) socket.setNoDelay(true);
  socket.once('connect', () => (tcp = true));
  socket.once(spec ? 'secureConnect' : 'connect', onUp);
  return { socket, tcpUp: () => tcp };
}

const HEAD_END = Buffer.from('\r\n\r\n');
/** Bodies above this are not expected from any bench target; a larger head is a parse error. */
const MAX_HEAD_BYTES = 64 * 1024;

type BodyState = 'head' | 'length' | 'chunk-size' | 'chunk-data' | 'chunk-crlf' | 'trailers' | 'until-close';

export class Connection implements ClientConnection {
  private socket: net.Socket | undefined;
  private connected = false;
  private tcpUp: () => boolean = () => false;
  opened = 0;
  /** Bytes of a response head or chunk-size line split across socket reads. */
  private pending: Buffer | undefined;
  private state: BodyState = 'head';
  private remaining = 0;
  private status = 0;
  private errorCode: string | undefined;
  private closeAfter = false;
  /** performance.now() when the current request was written; 0 when idle. */
  startedAt = 0;
  /** When the request that finished last was written (read in the outcome callback). */
  lastStartedAt = 0;
  /** Opaque per-request value owned by the caller (the intended send time). */
  intended = 0;

  constructor(
    private readonly host: string,
    private readonly port: number,
    private readonly request: Buffer,
    private readonly onOutcome: OnOutcome,
    private readonly tls?: TlsSpec,
  ) {}

  get busy(): boolean {
    return this.startedAt !== 0;
  }

  /** Opens the socket ahead of time so connection set-up is not part of the first measurement. */
  preconnect(): Promise<boolean> {
    return new Promise((resolve) => {
      const socket = this.open(() => resolve(true));
      socket.once('error', () => resolve(false));
    });
  }

  send(now: number, intended: number): void {
    this.startedAt = now;
    this.intended = intended;
    this.state = 'head';
    this.pending = undefined;
    this.errorCode = undefined;
    this.closeAfter = false;
    const socket = this.socket ?? this.open();
    socket.write(this.request);
  }

  /** Drops a request that took too long; the socket is not reusable since its answer may still come. */
  abort(kind: 'timeout'): void {
    if (!this.busy) return;
    this.destroySocket();
    this.finish({ kind });
  }

  close(): void {
    this.destroySocket();
  }

  private open(onUp?: () => void): net.Socket {
    const { socket, tcpUp } = openSocket(this.host, this.port, this.tls, () => {
      this.connected = true;
      onUp?.();
    });
    this.socket = socket;
    this.tcpUp = tcpUp;
    this.connected = false;
    this.opened++;
    socket.on('data', (chunk: Buffer) => this.onData(socket, chunk));
    socket.on('error', () => {
      /* reported through 'close' below */
    });
    socket.on('close', () => this.onClose(socket));
    return socket;
  }

  private destroySocket(): void {
    const socket = this.socket;
    this.socket = undefined;
    socket?.destroy();
  }

  private onClose(socket: net.Socket): void {
    if (socket !== this.socket) return; // an old socket we already replaced
    const wasConnected = this.connected;
    this.socket = undefined;
    if (!this.busy) return;
    if (this.state === 'until-close') {
      this.finish({ kind: 'response', status: this.status, errorCode: this.errorCode });
    } else {
      this.finish({ kind: wasConnected ? 'reset' : this.tcpUp() ? 'tls' : 'connect' });
    }
  }

  private finish(outcome: Outcome): void {
    this.lastStartedAt = this.startedAt;
    this.startedAt = 0;
    this.pending = undefined;
    if (outcome.kind === 'response' && this.closeAfter) this.destroySocket();
    this.onOutcome(this, outcome);
  }

  private fail(): void {
    this.destroySocket();
    this.finish({ kind: 'parse' });
  }

  /** Consumes one socket read; loops because a read may hold a head, a body and chunk framing. */
  private onData(socket: net.Socket, chunk: Buffer): void {
    if (socket !== this.socket || !this.busy) {
      // Bytes nobody asked for (a late answer after a timeout): the socket is out of step.
      if (socket === this.socket) this.destroySocket();
      return;
    }
    const buf = this.pending === undefined ? chunk : Buffer.concat([this.pending, chunk]);
    this.pending = undefined;
    let pos = 0;
    // Bounded: every iteration consumes bytes or returns.
    while (this.busy && pos <= buf.length) {
      switch (this.state) {
        case 'head': {
          const end = buf.indexOf(HEAD_END, pos);
          if (end === -1) {
            if (buf.length - pos > MAX_HEAD_BYTES) return this.fail();
            this.pending = buf.subarray(pos);
            return;
          }
          if (!this.parseHead(buf.toString('latin1', pos, end))) return this.fail();
          pos = end + 4;
          if (this.headOnly()) return this.complete(buf, pos);
          break;
        }
        case 'length': {
          const take = Math.min(this.remaining, buf.length - pos);
          this.remaining -= take;
          pos += take;
          if (this.remaining === 0) return this.complete(buf, pos);
          return;
        }
        case 'chunk-size': {
          const eol = buf.indexOf('\r\n', pos, 'latin1');
          if (eol === -1) {
            this.pending = buf.subarray(pos);
            return;
          }
          const size = parseInt(buf.toString('latin1', pos, eol), 16);
          if (Number.isNaN(size)) return this.fail();
          pos = eol + 2;
          if (size === 0) {
            this.state = 'trailers';
          } else {
            this.remaining = size;
            this.state = 'chunk-data';
          }
          break;
        }
        case 'chunk-data': {
          const take = Math.min(this.remaining, buf.length - pos);
          this.remaining -= take;
          pos += take;
          if (this.remaining > 0) return;
          this.remaining = 2;
          this.state = 'chunk-crlf';
          break;
        }
        case 'chunk-crlf': {
          const take = Math.min(this.remaining, buf.length - pos);
          this.remaining -= take;
          pos += take;
          if (this.remaining > 0) return;
          this.state = 'chunk-size';
          break;
        }
        case 'trailers': {
          // Usually just the final CRLF; trailer fields end with an empty line too.
          if (buf.length - pos >= 2 && buf[pos] === 0x0d && buf[pos + 1] === 0x0a) return this.complete(buf, pos + 2);
          const end = buf.indexOf(HEAD_END, pos);
          if (end === -1) {
            this.pending = buf.subarray(pos);
            return;
          }
          return this.complete(buf, end + 4);
        }
        case 'until-close':
          return; // the body ends when the server closes the socket
      }
      if (pos === buf.length && this.state !== 'trailers') return;
    }
  }

  /** True when the head just parsed announced no body (Content-Length: 0, 204, 304). */
  private headOnly(): boolean {
    return this.state === 'length' && this.remaining === 0;
  }

  private complete(buf: Buffer, pos: number): void {
    if (pos < buf.length) {
      // The server sent more than one answer: not something a bench target should do.
      return this.fail();
    }
    this.finish({ kind: 'response', status: this.status, errorCode: this.errorCode });
  }

  /** Reads the status and the few headers that decide framing; returns false when malformed. */
  private parseHead(head: string): boolean {
    if (!head.startsWith('HTTP/1.')) return false;
    this.status = Number(head.slice(9, 12));
    if (!(this.status >= 100 && this.status < 600)) return false;
    let length = -1;
    let chunked = false;
    let lineStart = head.indexOf('\r\n') + 2;
    while (lineStart > 1 && lineStart < head.length) {
      let lineEnd = head.indexOf('\r\n', lineStart);
      if (lineEnd === -1) lineEnd = head.length;
      const colon = head.indexOf(':', lineStart);
      if (colon > lineStart && colon < lineEnd) {
        const name = head.slice(lineStart, colon).toLowerCase();
        const value = head.slice(colon + 1, lineEnd).trim();
        if (name === 'content-length') length = Number(value);
        else if (name === 'transfer-encoding') chunked = value.toLowerCase().includes('chunked');
        else if (name === 'connection') this.closeAfter = value.toLowerCase() === 'close';
        else if (name === 'x-outrider-error') this.errorCode = value;
      }
      lineStart = lineEnd + 2;
    }
    if (this.status === 204 || this.status === 304 || (this.status >= 100 && this.status < 200)) {
      this.state = 'length';
      this.remaining = 0;
    } else if (chunked) {
      this.state = 'chunk-size';
    } else if (length >= 0) {
      this.state = 'length';
      this.remaining = length;
    } else {
      this.state = 'until-close';
      this.closeAfter = true;
    }
    return true;
  }
}
