/**
 * Raw HTTP/1.1 over a plain socket, for hostile-input tests: send exactly these bytes (no
 * client library fixing them up), read every byte back until the server closes, and split what
 * came back into responses with a strict little parser, so a test can tell "one 400, then
 * close" from "a 200 and then something else".
 */
import net from 'node:net';

export interface RawResponse {
  readonly status: number;
  /** Lower-cased names; repeated fields joined with ", ". */
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
  /** The trailer section of a chunked body, as sent (empty when none). */
  readonly trailers?: string;
}

export interface RawExchange {
  readonly responses: RawResponse[];
  /** Bytes after the last complete response (should be empty). */
  readonly trailing: string;
  /** The server closed the connection (rather than the test giving up or having what it expected). */
  readonly closedByServer: boolean;
  /** The socket errored (ECONNRESET and the like). */
  readonly error: string | undefined;
  /** Milliseconds from connect to close. */
  readonly ms: number;
}

export interface RawOptions {
  /**
   * Half-close after writing (default false). node:http, like Envoy, treats a client's
   * half-close as the client going away, so in-flight requests are then abandoned.
   */
  readonly end?: boolean;
  /** Stop once this many complete responses have arrived (and 30 ms passed without more); default: wait for the server to close. */
  readonly expect?: number;
  /** Stop once nothing has arrived for this long after the last complete response (the server keeps the connection). */
  readonly idleMs?: number;
  /** Give up (and destroy the socket) after this long (default 3000 ms). */
  readonly timeoutMs?: number;
  /** Write the pieces one by one, this many ms apart (slow clients). */
  readonly pieceDelayMs?: number;
}

/** Send `data` (a string in latin1, or pieces) on a fresh connection and collect the answer. */
export function rawExchange(port: number, data: string | Buffer | readonly (string | Buffer)[], options: RawOptions = {}): Promise<RawExchange> {
  const pieces = Array.isArray(data) ? data : [data as string | Buffer];
  const started = Date.now();
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    let error: string | undefined;
    let gaveUp = false;
    let timer: NodeJS.Timeout | undefined;
    let settle: NodeJS.Timeout | undefined;
    socket.on('data', (c: Buffer) => {
      chunks.push(c);
      if (options.expect === undefined && options.idleMs === undefined) return;
      clearTimeout(settle);
      const parsed = parseResponses(Buffer.concat(chunks));
      const done = options.expect === undefined ? parsed.responses.length > 0 && parsed.trailing === '' : parsed.responses.length >= options.expect;
      if (done) {
        settle = setTimeout(() => {
          gaveUp = true;
          socket.destroy();
        }, options.idleMs ?? 30);
      }
    });
    socket.on('error', (e: NodeJS.ErrnoException) => (error = e.code ?? e.message));
    socket.on('close', () => {
      clearTimeout(timer);
      clearTimeout(settle);
      resolve({ ...parseResponses(Buffer.concat(chunks)), closedByServer: !gaveUp, error, ms: Date.now() - started });
    });
    const giveUp = setTimeout(() => {
      gaveUp = true;
      socket.destroy();
    }, options.timeoutMs ?? 3000);
    socket.on('close', () => clearTimeout(giveUp));
    socket.once('connect', () => {
      let i = 0;
      const next = (): void => {
        if (socket.destroyed) return;
        const piece = pieces[i++];
        if (piece === undefined) {
          if (options.end === true) socket.end();
          return;
        }
        socket.write(typeof piece === 'string' ? Buffer.from(piece, 'latin1') : piece);
        if (options.pieceDelayMs !== undefined) timer = setTimeout(next, options.pieceDelayMs);
        else next();
      };
      next();
    });
  });
}

/** Split a byte stream into HTTP/1.1 responses; stops at the first thing that is not one. */
export function parseResponses(bytes: Buffer): { responses: RawResponse[]; trailing: string } {
  const text = bytes.toString('latin1');
  const responses: RawResponse[] = [];
  let at = 0;
  while (at < text.length) {
    const headEnd = text.indexOf('\r\n\r\n', at);
    if (headEnd === -1) break;
    const lines = text.slice(at, headEnd).split('\r\n');
    const statusLine = /^HTTP\/1\.[01] (\d{3})(?: .*)?$/.exec(lines[0] ?? '');
    if (!statusLine) break;
    const headers: Record<string, string> = {};
    for (const line of lines.slice(1)) {
      const colon = line.indexOf(':');
      if (colon <= 0) return { responses, trailing: text.slice(at) };
      const name = line.slice(0, colon).toLowerCase();
      const value = line.slice(colon + 1).trim();
      headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`;
    }
    const status = Number(statusLine[1]);
    let bodyStart = headEnd + 4;
    let body = '';
    let trailers = '';
    if (status < 200 || status === 204 || status === 304) {
      // no body
    } else if (headers['transfer-encoding']?.toLowerCase() === 'chunked') {
      const parts: string[] = [];
      for (;;) {
        const sizeEnd = text.indexOf('\r\n', bodyStart);
        if (sizeEnd === -1) return { responses, trailing: text.slice(at) };
        const size = parseInt(text.slice(bodyStart, sizeEnd), 16);
        if (!Number.isFinite(size)) return { responses, trailing: text.slice(at) };
        bodyStart = sizeEnd + 2;
        if (size === 0) {
          // Trailer fields, then the blank line that ends the message.
          const trailerEnd = text.indexOf('\r\n\r\n', bodyStart - 2);
          if (trailerEnd === -1) return { responses, trailing: text.slice(at) };
          trailers = text.slice(bodyStart, trailerEnd + 2);
          bodyStart = trailerEnd + 4;
          break;
        }
        parts.push(text.slice(bodyStart, bodyStart + size));
        bodyStart += size + 2;
      }
      body = parts.join('');
    } else if (headers['content-length'] !== undefined) {
      const length = Number(headers['content-length']);
      if (bodyStart + length > text.length) return { responses, trailing: text.slice(at) };
      body = text.slice(bodyStart, bodyStart + length);
      bodyStart += length;
    } else {
      body = text.slice(bodyStart);
      bodyStart = text.length;
    }
    responses.push({ status, headers, body, trailers });
    at = bodyStart;
  }
  return { responses, trailing: text.slice(at) };
}

/** A well-formed request, for "and the next one is still answered" checks. */
export function wellFormed(path = '/ok', extra = ''): string {
  return `GET ${path} HTTP/1.1\r\nHost: app\r\n${extra}\r\n`;
}
