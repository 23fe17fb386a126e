/**
 * A listener: a node:http server (and, for HTTP/2 on the same port, a node:http2 server it
 * hands connections to) that turns each client request into an exchange, runs it through the
 * matched route's pipeline and streams the answer back with backpressure. The
 * route table is swapped atomically on reload (`setRoutes`); a request keeps the pipeline it
 * started with. On drain it stops accepting, lets in-flight requests finish, and closes the
 * rest when the drain timeout passes.
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { createServer } from './node-http.js';
import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { ListenerPolicy } from '../config/types.js';
import { OutriderError, type ErrorCode } from '../errors.js';
import { AttemptLedger } from '../pipeline/exchange.js';
import { CancelScope, Cancelled } from '../pipeline/signal.js';
import { NO_ROUTE, type Exchange, type Handler, type ProxyResponse } from '../pipeline/layer.js';
import type { RouteRuntime } from '../pipeline/build.js';
import type { RouteTable } from '../routing/route-table.js';
import { errorAnswer } from './error-response.js';
import { adoptSocket, rejectMalformed, writeRefusal } from './raw-socket.js';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import { ClientSink } from './client-sink.js';
import { ListenerTls, type TlsStatus } from './listener-tls.js';
import { handleConnect } from './connect.js';
import type { Tunnel, TunnelBytes } from './tunnel.js';
import { answerUpgrade } from './upgrade.js';
import { LISTENER_LIMITS, serverOptions, type ListenerLimits } from './limits.js';
import { parseTarget, proxyRequest, screen } from './request-screen.js';
import type { Http2ServerResponse } from 'node:http2';
import { h2Channel, http1Channel } from './client-channel.js';
import { handOverHttp2 } from './h2/hand-over.js';
import { isTrailersOnly, respondTrailersOnly } from './h2/trailers-only.js';
import { H2_LIMITS, H2Server, type H2Request } from './h2/server.js';
import type { ClientMessage } from '../pipeline/layer.js';

type ClientResponse = ServerResponse | Http2ServerResponse;

export interface ListenerRoutes {
  readonly table: RouteTable<RouteRuntime>;
  /**
   * Observed pipelines for requests no route takes: 404 no-route, and the listener's refusals
   * (400 bad-request, 414, 431, 508: the error is `request.refusal`).
   */
  readonly noRoute: Handler;
  readonly badRequest: Handler;
}

export interface ListenerHooks {
  onInFlightChange?(listener: string, delta: 1 | -1): void;
  onInternalError?(listener: string, err: unknown): void;
  /** A connection refused before any request: malformed HTTP, a slow client's timeout. */
  onClientError?(listener: string, code: ErrorCode): void;
  /** A connection closed at accept because the listener holds `maxConnections` already. */
  onConnectionDropped?(listener: string): void;
  /** A tunnel (an upgrade after 101, a CONNECT after 200) opened (+1) or closed (-1). */
  onTunnel?(listener: string, kind: TunnelKind, delta: 1 | -1): void;
  /** A tunnel closed, with the bytes it carried each way. */
  onTunnelBytes?(listener: string, kind: TunnelKind, bytes: TunnelBytes): void;
  /** The TLS files changed: the new certificate is in use, or (error) the old one stays. */
  onTlsRotated?(listener: string, status: TlsStatus | undefined, error?: string): void;
}

export type TunnelKind = 'upgrade' | 'connect';

const CLIENT_GONE = 'client closed the connection';

export class Listener {
  readonly name: string;
  #policy: ListenerPolicy;
  #routes: ListenerRoutes;
  readonly #hooks: ListenerHooks;
  readonly #limits: ListenerLimits;
  readonly #server: Server;
  /** The HTTP/2 server connections are handed to; undefined when `protocols` leaves out h2c. */
  readonly #h2: H2Server | undefined;
  #tls: ListenerTls | undefined;
  /** Read by reconfigureProblem for the reload about to be applied. */
  #nextTls: ListenerTls | undefined;
  #inFlight = 0;
  #draining = false;
  #idleWaiters: (() => void)[] = [];
  /** Open tunnels: they outlive their request and end at drain. */
  readonly #tunnels = new Set<Tunnel>();

  constructor(policy: ListenerPolicy, routes: ListenerRoutes, hooks: ListenerHooks = {}, limits: ListenerLimits = LISTENER_LIMITS) {
    this.name = policy.name;
    this.#policy = policy;
    this.#routes = routes;
    this.#hooks = hooks;
    this.#limits = limits;
    this.#tls = policy.tls === undefined ? undefined : new ListenerTls(policy.tls);
    const onRequest = (req: ClientMessage, res: ClientResponse): void => this.#onRequest(req, res);
    const h2 = policy.protocols.includes('h2c');
    const http1 = policy.protocols.includes('http1');
    if (this.#tls === undefined) {
      this.#server = createServer(serverOptions(limits), onRequest);
    } else {
      const alpn = [...(h2 ? ['h2'] : []), ...(http1 ? ['http/1.1'] : [])];
      this.#server = createHttpsServer({ ...serverOptions(limits), ...this.#tls.serverOptions(alpn) }, onRequest);
      this.#watchTls(this.#tls);
    }
    this.#h2 = h2 ? new H2Server(limits, H2_LIMITS, onRequest) : undefined;
    if (this.#h2 !== undefined) {
      const refusal = new OutriderError('bad-request', 'this listener speaks HTTP/2 only (protocols: [h2c])', { listener: this.name });
      handOverHttp2(this.#server, this.#h2, { tls: this.#tls !== undefined, http1, sniffTimeoutMs: limits.headersTimeoutMs, refuseHttp1: (socket) => writeRefusal(socket, refusal) });
    }
    // One more than allowed, so a request over the limit is seen (node silently drops the rest).
    this.#server.maxHeadersCount = limits.maxHeaders + 1;
    this.#server.maxConnections = limits.maxConnections;
    this.#server.on('drop', () => this.#hooks.onConnectionDropped?.(this.name));
    this.#server.on('connection', (socket: Socket) => adoptSocket(socket));
    this.#server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
      const code = rejectMalformed(err, socket, this.name);
      if (code !== undefined) this.#hooks.onClientError?.(this.name, code);
    });
    this.#server.on('connect', (req: IncomingMessage, socket: Socket, head: Buffer) => {
      if (this.#draining) return void socket.destroy();
      handleConnect(req, socket, head, this.name, this.policy.connectAllow, {
        onRefused: () => this.#hooks.onClientError?.(this.name, 'connect-refused'),
        onTunnel: (tunnel) => this.#openTunnel(tunnel, 'connect'),
      });
    });
    this.#server.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => this.#onUpgrade(req, socket, head));
  }

  get policy(): ListenerPolicy {
    return this.#policy;
  }

  /**
   * Why this listener cannot take `policy` in place, or undefined. The server's kind is fixed
   * when it binds: switching TLS, or client certificates, on or off needs a new address (a new
   * listener) or a restart.
   */
  reconfigureProblem(policy: ListenerPolicy): string | undefined {
    const had = this.#policy.tls;
    const wants = policy.tls;
    if ((had === undefined) !== (wants === undefined) || (had?.clientCaFile === undefined) !== (wants?.clientCaFile === undefined)) {
      return `listener ${this.name}: switching TLS or client certificates on or off needs a new address or a restart`;
    }
    if ([...this.#policy.protocols].sort().join() !== [...policy.protocols].sort().join()) {
      return `listener ${this.name}: changing protocols needs a new address or a restart`;
    }
    if (wants === undefined || JSON.stringify(had) === JSON.stringify(wants)) return undefined;
    try {
      this.#nextTls = new ListenerTls(wants);
      return undefined;
    } catch (err) {
      return `listener ${this.name}: the TLS files cannot be used: ${(err as Error).message}`;
    }
  }

  /** Take a reloaded policy for the same address: its CONNECT targets, its TLS files. Check reconfigureProblem first. */
  reconfigure(policy: ListenerPolicy): void {
    this.#policy = policy;
    const tls = this.#nextTls;
    if (tls === undefined) return;
    this.#nextTls = undefined;
    this.#tls?.close();
    this.#tls = tls;
    (this.#server as HttpsServer).setSecureContext(tls.contextOptions());
    this.#watchTls(tls);
  }

  #watchTls(tls: ListenerTls): void {
    tls.watch(
      (options) => (this.#server as HttpsServer).setSecureContext(options),
      (status) => this.#hooks.onTlsRotated?.(this.name, status),
      (error) => this.#hooks.onTlsRotated?.(this.name, undefined, error),
    );
  }

  /** Swap in a new route table; requests already running keep the pipeline they started with. */
  setRoutes(routes: ListenerRoutes): void {
    this.#routes = routes;
  }

  async start(): Promise<void> {
    const { host, port } = this.policy.address;
    await new Promise<void>((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(port, host, () => {
        this.#server.off('error', reject);
        resolve();
      });
    });
  }

  /** The bound port (useful when the policy asked for port 0). */
  port(): number {
    const address = this.#server.address();
    return typeof address === 'object' && address !== null ? address.port : this.policy.address.port;
  }

  get inFlight(): number {
    return this.#inFlight;
  }

  /** Stop accepting; wait for in-flight requests and tunnels up to `timeoutMs`; then close what is left. */
  async drain(timeoutMs: number): Promise<void> {
    this.#draining = true;
    const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    this.#server.closeIdleConnections();
    this.#h2?.drain();
    await Promise.race([this.#whenIdle(), delay(timeoutMs)]);
    for (const tunnel of this.#tunnels) tunnel.close();
    this.#server.closeAllConnections();
    this.#h2?.destroyAll();
    this.#tls?.close();
    await closed;
  }

  /** The certificate in use on a TLS listener, for /status. */
  tlsStatus(): TlsStatus | undefined {
    return this.#tls?.status();
  }

  get tunnels(): number {
    return this.#tunnels.size;
  }

  /** HTTP/2 client connections and their open streams, for /status. */
  h2Status(): { readonly connections: number; readonly streams: number } | undefined {
    return this.#h2 === undefined ? undefined : { connections: this.#h2.sessions, streams: this.#h2.streams };
  }

  #whenIdle(): Promise<void> {
    if (this.#inFlight === 0 && this.#tunnels.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  #openTunnel(tunnel: Tunnel, kind: TunnelKind): (bytes: TunnelBytes) => void {
    this.#tunnels.add(tunnel);
    this.#hooks.onTunnel?.(this.name, kind, 1);
    return (bytes) => {
      this.#tunnels.delete(tunnel);
      this.#hooks.onTunnel?.(this.name, kind, -1);
      this.#hooks.onTunnelBytes?.(this.name, kind, bytes);
      this.#wakeIfIdle();
    };
  }

  /**
   * An upgrade request: through its route's pipeline like any request, on a connection that is
   * ours now. It stays in flight (and holds its bulkhead slot) until the tunnel closes.
   */
  #onUpgrade(req: IncomingMessage, socket: Socket, head: Buffer): void {
    if (this.#draining) return void socket.destroy();
    const { exchange, handler, refused } = this.#exchangeFor(req, performance.now(), upgradeToken(req));
    let answered = false;
    socket.once('close', () => {
      if (!answered) {
        exchange.ledger.status = 499;
        exchange.ledger.errorCode ??= 'client-closed';
        (exchange.signal as CancelScope).abort(new Cancelled(CLIENT_GONE));
      }
      exchange.ledger.finish();
      this.#track(-1);
    });
    handler(exchange).then(
      (response) => {
        answered = true;
        if (refused) response.headers.push('connection', 'close');
        answerUpgrade(socket, head, response, (tunnel) => this.#openTunnel(tunnel, 'upgrade'));
      },
      (err: unknown) => {
        answered = true;
        this.#hooks.onInternalError?.(this.name, err);
        writeRefusal(socket, new OutriderError('upstream-reset', 'internal error', { listener: this.name }));
      },
    );
  }

  /** The request's exchange, counted in flight, and the handler that answers it. */
  #exchangeFor(req: ClientMessage, startedAt: number, upgrade?: string): { exchange: Exchange; handler: Handler; refused: boolean } {
    this.#track(1);
    const refusal = screen(req, this.#limits, this.name);
    const target = refusal === undefined ? parseTarget(req) : undefined;
    const routes = this.#routes;
    const client = req.httpVersionMajor === 2 ? h2Channel(req as H2Request) : http1Channel(req.socket);
    const request = proxyRequest(req, client, this.name, target, refusal, upgrade);
    const refused = target === undefined || request.refusal !== undefined;
    const route = refused ? undefined : routes.table.match(target.candidate);
    const exchange: Exchange = { request, route: route ?? NO_ROUTE, signal: new CancelScope(), ledger: new AttemptLedger(startedAt) };
    const handler = refused ? routes.badRequest : (route?.handler ?? routes.noRoute);
    return { exchange, handler, refused };
  }

  #onRequest(req: ClientMessage, res: ClientResponse): void {
    const { exchange, handler } = this.#exchangeFor(req, performance.now());
    const { ledger } = exchange;
    const client = exchange.signal as CancelScope;
    let ended = false;
    const onClose = (): void => {
      if (ended) return;
      ended = true;
      if (!finishedWhole(res)) {
        ledger.status = 499;
        ledger.errorCode ??= 'client-closed';
        client.abort(new Cancelled(CLIENT_GONE));
      }
      ledger.finish();
      this.#track(-1);
    };
    // on, not once: a response closes once, and once() wraps the listener in two more objects.
    res.on('close', onClose);
    // A pipelined request's response waits in node's queue without a socket; if the connection
    // dies first, node never closes that response. Only then is the connection's own close the
    // signal (found by the listener fuzzer: in-flight counts leaked).
    if (res.socket === null) {
      const connection = req.socket;
      const onConnectionClose = (): void => {
        if (res.writableFinished || ended) return;
        onClose();
        res.destroy();
      };
      connection.once('close', onConnectionClose);
      res.once('finish', () => connection.off('close', onConnectionClose));
    }
    handler(exchange).then(
      // A refused client gets its answer and the connection closed: whatever it sends next is suspect.
      (response) => this.#respond(res, response, exchange, exchange.request.refusal !== undefined),
      (err: unknown) => this.#failInternally(res, exchange, err),
    );
  }

  #respond(res: ClientResponse, response: ProxyResponse, exchange: Exchange, close = false): void {
    const { client, grpc } = exchange.request;
    if (isGone(res)) {
      response.body.destroy(new Error(CLIENT_GONE));
      return;
    }
    // HTTP/2 has no `Connection` field: its drain is GOAWAY, and a refused stream leaves its neighbours be.
    if ((this.#draining || close) && client.protocol === 'http1') response.headers.push('connection', 'close');
    if (grpc && client.protocol === 'h2' && isTrailersOnly(response)) return respondTrailersOnly(res as Http2ServerResponse, response);
    // Flat [name, value, …] lists are taken by both (node:http2's types only say objects).
    (res as ServerResponse).writeHead(response.status, response.headers);
    response.body.pipeTo(new ClientSink(res, response.body, this.#limits.clientBufferBytes, client, grpc ? exchange.ledger : undefined));
  }

  /** A bug: the observe layer answers every expected error. Answer 502 and report it. */
  #failInternally(res: ClientResponse, exchange: Exchange, err: unknown): void {
    this.#hooks.onInternalError?.(this.name, err);
    if (res.headersSent || isGone(res)) {
      res.destroy();
      return;
    }
    const error = new OutriderError('upstream-reset', 'internal error', { listener: this.name });
    this.#respond(res, errorAnswer(error, exchange.request.grpc), exchange);
  }

  #track(delta: 1 | -1): void {
    this.#inFlight += delta;
    this.#hooks.onInFlightChange?.(this.name, delta);
    this.#wakeIfIdle();
  }

  #wakeIfIdle(): void {
    if (this.#inFlight === 0 && this.#tunnels.size === 0 && this.#idleWaiters.length > 0) {
      const waiters = this.#idleWaiters;
      this.#idleWaiters = [];
      for (const resolve of waiters) resolve();
    }
  }
}

/**
 * The response went out whole before it closed. node:http2 ends a stream's writable side when
 * the client resets it, so writableFinished is true then too; only `aborted` tells a reset
 * before our end from a normal close. (Without it a client's RST_STREAM cancelled nothing: the
 * upstream request ran on and was logged 200, and each stream of a rapid-reset flood went upstream.)
 */
function finishedWhole(res: ClientResponse): boolean {
  return 'stream' in res ? !res.stream.aborted && res.writableFinished : res.writableFinished;
}

function isGone(res: ClientResponse): boolean {
  return 'stream' in res ? res.stream.destroyed : res.destroyed;
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}

/**
 * The token to ask the upstream for. `h2c` is never passed on: an h2c upgrade through a proxy
 * is how request smuggling past it is done (Bishop Fox's h2c smuggling), and HTTP/2 to the
 * upstream is the sidecar's own choice; such a request is answered as plain HTTP/1.1.
 */
function upgradeToken(req: IncomingMessage): string | undefined {
  const token = req.headers.upgrade;
  return token === undefined || /\bh2c\b/i.test(token) ? undefined : token;
}
