/**
 * The connection pool of one endpoint, for the upstream's `protocol` (traffic.md, Upstreams):
 *
 * - `http1`: undici's Pool, one request per connection at a time (no pipelining), `connections` of them.
 * - `h2c`, `h2`: H2Pool (h2-pool.ts) on node:http2: every connection carries up to
 *   H2_STREAMS_PER_CONNECTION streams, streaming bodies included. `h2` is over TLS and the
 *   upstream must pick `h2` by ALPN, else the try fails `upstream-unreachable` saying so.
 * - `auto`: undici's Pool, ALPN deciding per connection: multiplexed when it agrees on h2, one
 *   request at a time when it answers http/1.1 (undici holds a streaming body until its
 *   connection is otherwise idle: streaming gRPC calls want `h2`). Plain http:// is HTTP/1.1.
 */
import { createRequire } from 'node:module';
import type { TLSSocket } from 'node:tls';
import type { buildConnector as BuildConnector, Client as UndiciClient, Dispatcher, Pool as UndiciPool } from 'undici';
import { H2Pool } from './h2-pool.js';
import type { UpstreamPolicy } from '../config/types.js';

/**
 * Only the undici modules used: the package's index also loads fetch, WebSocket and the
 * caches, about 100 ms and 24 MB at start-up for nothing we use (bench/RESULTS.md, start-up).
 */
const require = createRequire(import.meta.url);
const Pool = require('undici/lib/dispatcher/pool.js') as typeof UndiciPool;
const Client = require('undici/lib/dispatcher/client.js') as typeof UndiciClient;
const buildConnector = require('undici/lib/core/connect.js') as typeof BuildConnector;

/** Streams in flight on one HTTP/2 connection to an upstream (undici's and Node's usual 100). */
export const H2_STREAMS_PER_CONNECTION = 100;

type ConnectOptions = Record<string, unknown> & { timeout: number };

/** What the forward step needs of a pool; undici's Pool and H2Pool both are one. */
export interface EndpointPool {
  dispatch(options: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler): boolean;
  close(): Promise<void>;
  readonly stats: { readonly connected: number; readonly running: number };
}

export function endpointPool(origin: string, policy: UpstreamPolicy, connect: ConnectOptions): EndpointPool {
  if (policy.protocol === 'h2c' || policy.protocol === 'h2') {
    const { timeout, ...tls } = connect;
    return new H2Pool(origin, {
      connections: policy.connections,
      streamsPerConnection: H2_STREAMS_PER_CONNECTION,
      connectTimeoutMs: timeout,
      idleTimeoutMs: policy.idleTimeoutMs,
      maxHeaderListBytes: policy.maxResponseHeaderBytes,
      tls: policy.protocol === 'h2' ? tls : undefined,
    });
  }
  return new Pool(origin, poolOptions(policy, connect));
}

function poolOptions(policy: UpstreamPolicy, connect: ConnectOptions): UndiciPool.Options {
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
    case 'auto': {
      const connector = buildConnector({ ...connect, allowH2: true });
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
                client.pipelining = alpn === 'h2' ? H2_STREAMS_PER_CONNECTION : 1;
                return callback(null, socket);
              }),
          });
          return client;
        },
      };
    }
    default:
      return { ...common, connect, pipelining: 1 };
  }
}
