/**
 * Sockets that node:http hands over outside a normal request: after `CONNECT` or an upgrade it
 * removes its own 'error' listener and the socket is ours; after a refusal we write to it
 * directly. A socket with no 'error' listener that is then reset kills the process with an
 * unhandled 'error' event (issue 11: one CONNECT and a reset did). So every socket a server
 * accepts is adopted at 'connection': it always has a listener, whatever happens to it later.
 */
import type { ServerResponse } from 'node:http';
import { STATUS_CODES } from './node-http.js';
import type { Socket } from 'node:net';
import { OutriderError, type ErrorCode } from '../errors.js';
import { errorResponse } from './error-response.js';

/**
 * Give the socket an 'error' listener for its whole life. A reset or a broken pipe on a
 * client connection is the client's business, never the process's: the socket is destroyed
 * (streams do that on error) and `onError`, if given, is told.
 */
export function adoptSocket(socket: Socket, onError?: (err: NodeJS.ErrnoException) => void): void {
  socket.on('error', onError ?? ignoreSocketError);
}

function ignoreSocketError(): void {
  // The socket is already destroyed by the stream machinery; there is no one left to answer.
}

/** How long a refused connection may stay half-closed before it is cut (a client that never closes). */
const REFUSAL_LINGER_MS = 1000;

/**
 * Answer a connection that node:http will not answer (malformed HTTP, CONNECT) with the one
 * error response the pipeline also uses, then close it. The socket must be adopted.
 */
export function writeRefusal(socket: Socket, error: OutriderError): void {
  const response = errorResponse(error);
  writeAndClose(socket, response.status, response.headers, response.body.bytes);
}

/** A whole answer written straight to a connection node:http no longer manages, then close. */
export function writeAndClose(socket: Socket, status: number, headers: readonly string[], body: Buffer): void {
  socket.end(Buffer.concat([responseHead(status, [...headers, 'connection', 'close']), body]));
  const timer = setTimeout(() => socket.destroy(), REFUSAL_LINGER_MS);
  timer.unref();
  socket.once('close', () => clearTimeout(timer));
}

/** `HTTP/1.1 status reason`, the headers (flat [name, value, …]) and the blank line. */
export function responseHead(status: number, headers: readonly string[]): Buffer {
  const head = [`HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}`];
  for (let i = 0; i < headers.length; i += 2) head.push(`${headers[i]}: ${headers[i + 1]}`);
  head.push('', '');
  return Buffer.from(head.join('\r\n'), 'latin1');
}

/**
 * Malformed HTTP from a client, or a client too slow to send its request: a JSON 4xx, then
 * close; the process stays up. Returns the code answered, or undefined when the connection was
 * only cut: the client is gone, the answer to the broken request has begun, or an earlier
 * request on this connection is still being answered (pipelining), where a 400 written now
 * would be read as that earlier request's answer: a response desync.
 */
export function rejectMalformed(err: NodeJS.ErrnoException, socket: Socket, listener: string): ErrorCode | undefined {
  // node:http's own field: the response being written on this connection, if any.
  const answering = (socket as { _httpMessage?: ServerResponse | null })._httpMessage;
  // A request still arriving is the one whose bytes broke; a complete one is an earlier request.
  const earlier = answering != null && (answering.headersSent || answering.req.complete);
  if (!socket.writable || err.code === 'ECONNRESET' || earlier) {
    socket.destroy();
    return undefined;
  }
  const code: ErrorCode =
    err.code === 'HPE_HEADER_OVERFLOW' ? 'headers-too-large' : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 'request-timeout' : 'bad-request';
  writeRefusal(socket, new OutriderError(code, describeParseError(err), { listener }));
  return code;
}

/**
 * The parser's codes, said in words a client developer can act on. A raw byte outside ASCII in
 * the request target (UTF-8 sent unencoded) is refused, not corrected: RFC 9112 §3 says a
 * recipient SHOULD answer an invalid request-line with 400 (or a redirect) and SHOULD NOT
 * autocorrect it and go on, since such a line can be crafted to slip past filters; node:http
 * apps refuse it the same way (docs/security.md).
 */
function describeParseError(err: NodeJS.ErrnoException): string {
  switch (err.code) {
    case 'HPE_INVALID_URL':
      return 'HPE_INVALID_URL: the request target has characters that must be percent-encoded (RFC 3986), such as raw UTF-8 or spaces';
    case 'HPE_INVALID_METHOD':
      return 'HPE_INVALID_METHOD: not an HTTP/1.x request line';
    case 'HPE_HEADER_OVERFLOW':
      return 'HPE_HEADER_OVERFLOW: the request line and headers are larger than the listener allows';
    default:
      return err.code ?? 'malformed request';
  }
}

