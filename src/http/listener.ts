/**
 * A listener: a node:http server that turns each client request into an exchange, runs it
 * through the matched route's pipeline and streams the answer back with backpressure. The
 * route table is swapped atomically on reload (`setRoutes`); a request keeps the pipeline it
 * started with. On drain it stops accepting, lets in-flight requests finish, and closes the
 * rest when the drain timeout passes.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { ListenerPolicy } from '../config/types.js';
import { OutriderError, type ErrorCode } from '../errors.js';
import { AttemptLedger } from '../pipeline/exchange.js';
import { CancelScope, Cancelled } from '../pipeline/signal.js';
import { NO_ROUTE, type Exchange, type Handler, type ProxyResponse } from '../pipeline/layer.js';
import type { RouteRuntime } from '../pipeline/build.js';
import type { RouteTable } from '../routing/route-table.js';
import { errorResponse } from './error-response.js';
import { adoptSocket, rejectMalformed, writeRefusal } from './raw-socket.js';
import { ClientSink } from './client-sink.js';
import { LISTENER_LIMITS, serverOptions, type ListenerLimits } from './limits.js';
import { parseTarget, proxyRequest, screen } from './request-screen.js';

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
}

const CLIENT_GONE = 'client closed the connection';

export class Listener {
  readonly name: string;
  readonly policy: ListenerPolicy;
  #routes: ListenerRoutes;
  readonly #hooks: ListenerHooks;
  readonly #limits: ListenerLimits;
  readonly #server: Server;
  #inFlight = 0;
  #draining = false;
  #idleWaiters: (() => void)[] = [];

  constructor(policy: ListenerPolicy, routes: ListenerRoutes, hooks: ListenerHooks = {}, limits: ListenerLimits = LISTENER_LIMITS) {
    this.name = policy.name;
    this.policy = policy;
    this.#routes = routes;
    this.#hooks = hooks;
    this.#limits = limits;
    this.#server = createServer(serverOptions(limits), (req, res) => this.#onRequest(req, res));
    // One more than allowed, so a request over the limit is seen (node silently drops the rest).
    this.#server.maxHeadersCount = limits.maxHeaders + 1;
    this.#server.maxConnections = limits.maxConnections;
    this.#server.on('drop', () => this.#hooks.onConnectionDropped?.(this.name));
    this.#server.on('connection', (socket: Socket) => adoptSocket(socket));
    this.#server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
      const code = rejectMalformed(err, socket, this.name);
      if (code !== undefined) this.#hooks.onClientError?.(this.name, code);
    });
    // CONNECT asks for a tunnel; none is allowed on this listener (node would drop it without a word).
    this.#server.on('connect', (req: IncomingMessage, socket: Socket) => {
      writeRefusal(socket, new OutriderError('connect-refused', `CONNECT ${req.url ?? ''} is not allowed on listener ${this.name}`, { listener: this.name }));
      this.#hooks.onClientError?.(this.name, 'connect-refused');
    });
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

  /** Stop accepting; wait for in-flight requests up to `timeoutMs`; then close what is left. */
  async drain(timeoutMs: number): Promise<void> {
    this.#draining = true;
    const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    this.#server.closeIdleConnections();
    await Promise.race([this.#whenIdle(), delay(timeoutMs)]);
    this.#server.closeAllConnections();
    await closed;
  }

  #whenIdle(): Promise<void> {
    if (this.#inFlight === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  #onRequest(req: IncomingMessage, res: ServerResponse): void {
    const startedAt = performance.now();
    this.#track(1);
    const refusal = screen(req, this.#limits, this.name);
    const target = refusal === undefined ? parseTarget(req) : undefined;
    const routes = this.#routes;
    const request = proxyRequest(req, this.name, target, refusal);
    const route = target === undefined || request.refusal !== undefined ? undefined : routes.table.match(target.candidate);
    const ledger = new AttemptLedger(startedAt);
    const client = new CancelScope();
    const exchange: Exchange = {
      request,
      route: route ?? NO_ROUTE,
      signal: client,
      ledger,
    };
    let ended = false;
    const onClose = (): void => {
      if (ended) return;
      ended = true;
      if (!res.writableFinished) {
        ledger.status = 499;
        ledger.errorCode ??= 'client-closed';
        client.abort(new Cancelled(CLIENT_GONE));
      }
      ledger.finish();
      this.#track(-1);
    };
    res.once('close', onClose);
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
    const handler = target === undefined || request.refusal !== undefined ? routes.badRequest : (route?.handler ?? routes.noRoute);
    handler(exchange).then(
      // A refused client gets its answer and the connection closed: whatever it sends next is suspect.
      (response) => this.#respond(res, response, request.refusal !== undefined),
      (err: unknown) => this.#failInternally(res, err),
    );
  }

  #respond(res: ServerResponse, response: ProxyResponse, close = false): void {
    if (res.destroyed) {
      response.body.destroy(new Error(CLIENT_GONE));
      return;
    }
    if (this.#draining || close) response.headers.push('connection', 'close');
    res.writeHead(response.status, response.headers);
    response.body.pipeTo(new ClientSink(res, response.body, this.#limits.clientBufferBytes));
  }

  /** A bug: the observe layer answers every expected error. Answer 502 and report it. */
  #failInternally(res: ServerResponse, err: unknown): void {
    this.#hooks.onInternalError?.(this.name, err);
    if (res.headersSent || res.destroyed) {
      res.destroy();
      return;
    }
    this.#respond(res, errorResponse(new OutriderError('upstream-reset', 'internal error', { listener: this.name })));
  }

  #track(delta: 1 | -1): void {
    this.#inFlight += delta;
    this.#hooks.onInFlightChange?.(this.name, delta);
    if (this.#inFlight === 0 && this.#idleWaiters.length > 0) {
      const waiters = this.#idleWaiters;
      this.#idleWaiters = [];
      for (const resolve of waiters) resolve();
    }
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}

