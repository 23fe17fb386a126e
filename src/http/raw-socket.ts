/**
 * Sockets that node:http hands over outside a normal request: after `CONNECT` or an upgrade it
 * removes its own 'error' listener and the socket is ours; after a refusal we write to it
 * directly. A socket with no 'error' listener that is then reset kills the process with an
 * unhandled 'error' event (issue 11: one CONNECT and a reset did). So every socket a server
 * accepts is adopted at 'connection': it always has a listener, whatever happens to it later.
 */
import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { OutriderError } from '../errors.js';
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
  const head = [`HTTP/1.1 ${response.status} ${STATUS_CODES[response.status] ?? ''}`];
  const headers = response.headers;
  for (let i = 0; i < headers.length; i += 2) head.push(`${headers[i]}: ${headers[i + 1]}`);
  head.push('connection: close', '', '');
  socket.end(Buffer.concat([Buffer.from(head.join('\r\n'), 'latin1'), response.body.bytes]));
  const timer = setTimeout(() => socket.destroy(), REFUSAL_LINGER_MS);
  timer.unref();
  socket.once('close', () => clearTimeout(timer));
}
