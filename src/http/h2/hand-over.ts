/**
 * Put the HTTP/2 server between accept and node:http: on a plain port the first bytes tell (the
 * preface), on a TLS port ALPN does. HTTP/1.1 connections go on to node:http's own connection
 * handler, so its limits and timeouts (headersTimeout, maxConnections, keep-alive) stay as
 * they are; only the bytes read to tell are put back first.
 */
import type { Server } from 'node:http';
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { sniffPreface } from './preface.js';
import type { H2Server } from './server.js';

export interface HandOverOptions {
  /** A TLS listener: ALPN decides. */
  readonly tls: boolean;
  /** HTTP/1.1 is served too (`protocols` has http1). */
  readonly http1: boolean;
  /** How long a new plain connection may stay silent before it is closed. */
  readonly sniffTimeoutMs: number;
  /** Answer an HTTP/1.1 connection on an HTTP/2-only listener. */
  readonly refuseHttp1: (socket: Socket) => void;
}

export function handOverHttp2(server: Server, h2: H2Server, options: HandOverOptions): void {
  const event = options.tls ? 'secureConnection' : 'connection';
  const http1Handlers = server.listeners(event) as ((socket: Socket) => void)[];
  server.removeAllListeners(event);
  const toHttp1 = (socket: Socket): void => {
    for (const handler of http1Handlers) handler.call(server, socket);
  };
  if (options.tls) {
    server.on(event, (socket: TLSSocket) => (socket.alpnProtocol === 'h2' ? h2.accept(socket) : toHttp1(socket)));
    return;
  }
  server.on(event, (socket: Socket) =>
    sniffPreface(socket, options.sniffTimeoutMs, (isH2) => {
      if (isH2) return h2.accept(socket);
      if (!options.http1) return options.refuseHttp1(socket);
      toHttp1(socket);
      socket.resume();
    }),
  );
}
