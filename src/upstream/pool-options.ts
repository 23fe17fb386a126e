/**
 * How each endpoint's undici Pool is made for the upstream's `protocol` (traffic.md, Upstreams):
 *
 * - `http1`: one request per connection at a time (no pipelining), `connections` of them.
 * - `h2c`: HTTP/2 without TLS, prior knowledge: every connection carries up to
 *   H2_STREAMS_PER_CONNECTION streams (fewer if the upstream's SETTINGS say so).
 * - `h2`: HTTP/2 over TLS; the upstream must pick `h2` by ALPN, else the try fails
 *   `upstream-unreachable` saying so (better than silently speaking HTTP/1.1 to a gRPC server).
 * - `auto`: ALPN decides per connection: multiplexed when it agrees on h2, one request at a
 *   time when it answers http/1.1. Plain http:// endpoints have no ALPN: HTTP/1.1.
 */
import { createRequire } from 'node:module';
import type { TLSSocket } from 'node:tls';
import type { buildConnector as BuildConnector, Client as UndiciClient, Pool as UndiciPool } from 'undici';
import type { UpstreamPolicy } from '../config/types.js';

/**
 * Only the undici modules used: the package's index also loads fetch, WebSocket and the
 * caches, about 100 ms and 24 MB at start-up for nothing we use (bench/RESULTS.md, start-up).
 */
const require = createRequire(import.meta.url);
export const Pool = require('undici/lib/dispatcher/pool.js') as typeof UndiciPool;
const Client = require('undici/lib/dispatcher/client.js') as typeof UndiciClient;
const buildConnector = require('undici/lib/core/connect.js') as typeof BuildConnector;

/** Streams in flight on one HTTP/2 connection to an upstream (undici's and Node's usual 100). */
export const H2_STREAMS_PER_CONNECTION = 100;

type ConnectOptions = Record<string, unknown> & { timeout: number };

export function poolOptions(policy: UpstreamPolicy, connect: ConnectOptions): UndiciPool.Options {
  const common: UndiciPool.Options = {
    connections: policy.connections,
    // Deadlines are the route's (timeout, perTryTimeout); undici's own would race them.
    headersTimeout: 0,
    bodyTimeout: 0,
    // An app server that closes idle connections sooner than we reuse them turns the next
    // request on such a connection into a reset; idleTimeout below its timeout avoids it.
    keepAliveTimeout: policy.idleTimeoutMs,
    // A server's Keep-Alive hint may shorten the idle time, never lengthen it past ours.
    keepAliveMaxTimeout: policy.idleTimeoutMs,
    maxHeaderSize: policy.maxResponseHeaderBytes,
  };
  switch (policy.protocol) {
    case 'http1':
      return { ...common, connect, pipelining: 1 };
    case 'h2c':
      // undici's types lag its options: useH2c is read by its connector (lib/core/connect.js).
      return { ...common, connect: { ...connect, useH2c: true } as ConnectOptions, allowH2: true, pipelining: H2_STREAMS_PER_CONNECTION };
    case 'h2':
    case 'auto': {
      const connector = buildConnector({ ...connect, allowH2: true });
      const requireH2 = policy.protocol === 'h2';
      return {
        ...common,
        allowH2: true,
        // A Client per connection slot, told after each TLS handshake how many requests it may carry.
        factory: (origin, options) => {
          const client: UndiciClient = new Client(origin, {
            ...options,
            connect: (opts, callback) =>
              connector(opts, (err, socket) => {
                if (err !== null) return callback(err, null);
                const alpn = (socket as TLSSocket).alpnProtocol;
                if (requireH2 && alpn !== 'h2') {
                  socket.destroy();
                  return callback(notH2(origin, alpn), null);
                }
                client.pipelining = alpn === 'h2' ? H2_STREAMS_PER_CONNECTION : 1;
                return callback(null, socket);
              }),
          });
          return client;
        },
      };
    }
  }
}

function notH2(origin: string | URL, alpn: string | false | null | undefined): Error {
  const error = new Error(`${String(origin)} did not agree to HTTP/2 by ALPN (it chose ${alpn === false || alpn == null ? 'none' : alpn}); protocol h2 requires it, auto allows HTTP/1.1`);
  // Classified like a refused connection: no request reached the upstream.
  return Object.assign(error, { code: 'ERR_ALPN_NOT_H2' });
}
