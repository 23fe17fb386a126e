/**
 * h2c with prior knowledge on the same port as HTTP/1.1 (traffic.md, Listeners `protocols`):
 * the two are told apart by the first bytes of a connection. An HTTP/2 client opens with the
 * 24-byte connection preface (RFC 9113 §3.4), which no HTTP/1.1 request can start with, so the
 * bytes are read until they either match the whole preface or stop matching it, then put back
 * (`unshift`) for the server that takes the connection.
 */
import type { Socket } from 'node:net';

export const H2_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

/**
 * Wait for enough of the first bytes to tell the protocol, then call `dispatch` with the
 * socket paused and the bytes put back. A socket that sends nothing within `timeoutMs` is
 * closed (the HTTP/1.1 server's headersTimeout only starts once it has the socket).
 */
export function sniffPreface(socket: Socket, timeoutMs: number, dispatch: (isH2: boolean) => void): void {
  let seen: Buffer | undefined;
  const timer = setTimeout(() => socket.destroy(), timeoutMs);
  timer.unref();
  const onData = (chunk: Buffer): void => {
    seen = seen === undefined ? chunk : Buffer.concat([seen, chunk]);
    const compared = Math.min(seen.length, H2_PREFACE.length);
    const isH2 = seen.compare(H2_PREFACE, 0, compared, 0, compared) === 0;
    if (isH2 && seen.length < H2_PREFACE.length) return; // a prefix of the preface: wait for more
    stop();
    socket.pause();
    socket.unshift(seen);
    dispatch(isH2);
  };
  // node:http servers allow half-open sockets, so a client that closes before saying anything
  // would hold its connection (and its maxConnections slot) for ever: close it.
  const onEnd = (): void => void socket.destroy();
  const stop = (): void => {
    clearTimeout(timer);
    socket.off('data', onData);
    socket.off('end', onEnd);
    socket.off('close', stop);
  };
  socket.on('data', onData);
  socket.once('end', onEnd);
  socket.once('close', stop);
}
