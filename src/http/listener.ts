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
import { OutriderError } from '../errors.js';
import { AttemptLedger } from '../pipeline/exchange.js';
import { CancelScope, Cancelled } from '../pipeline/signal.js';
import { NO_ROUTE, type BodySink, type Exchange, type Handler, type ProxyRequest, type ProxyResponse, type ResponseBody } from '../pipeline/layer.js';
import type { RouteRuntime } from '../pipeline/build.js';
import { hostWithoutPort, type RouteTable } from '../routing/route-table.js';
import { errorResponse } from './error-response.js';
import { newRequestId, upstreamRequestHeaders } from './headers.js';

export interface ListenerRoutes {
  readonly table: RouteTable<RouteRuntime>;
  /** Observed pipelines for requests no route takes: 404 no-route, 400 bad-request. */
  readonly noRoute: Handler;
  readonly badRequest: Handler;
}

export interface ListenerHooks {
  onInFlightChange?(listener: string, delta: 1 | -1): void;
  onInternalError?(listener: string, err: unknown): void;
}

/** Server limits against slow or hostile clients; the values follow Envoy's edge guidance. */
const SERVER_OPTIONS = {
  headersTimeout: 10_000,
  requestTimeout: 300_000,
  // Longer than typical client pools' idle time, so the app never reuses a socket we closed.
  keepAliveTimeout: 65_000,
  maxHeaderSize: 64 * 1024,
  insecureHTTPParser: false,
} as const;

const CLIENT_GONE = 'client closed the connection';

export class Listener {
  readonly name: string;
  readonly policy: ListenerPolicy;
  #routes: ListenerRoutes;
  readonly #hooks: ListenerHooks;
  readonly #server: Server;
  #inFlight = 0;
  #draining = false;
  #idleWaiters: (() => void)[] = [];

  constructor(policy: ListenerPolicy, routes: ListenerRoutes, hooks: ListenerHooks = {}) {
    this.name = policy.name;
    this.policy = policy;
    this.#routes = routes;
    this.#hooks = hooks;
    this.#server = createServer(SERVER_OPTIONS, (req, res) => this.#onRequest(req, res));
    this.#server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => rejectMalformed(err, socket));
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
    const target = parseTarget(req);
    const routes = this.#routes;
    const route = target === undefined ? undefined : routes.table.match(target.candidate);
    const ledger = new AttemptLedger(startedAt);
    const client = new CancelScope();
    const exchange: Exchange = {
      request: proxyRequest(req, this.name, target),
      route: route ?? NO_ROUTE,
      signal: client,
      ledger,
    };
    res.once('close', () => {
      if (!res.writableFinished) {
        ledger.status = 499;
        ledger.errorCode ??= 'client-closed';
        client.abort(new Cancelled(CLIENT_GONE));
      }
      ledger.finish();
      this.#track(-1);
    });
    const handler = target === undefined ? routes.badRequest : (route?.handler ?? routes.noRoute);
    handler(exchange).then(
      (response) => this.#respond(res, response),
      (err: unknown) => this.#failInternally(res, err),
    );
  }

  #respond(res: ServerResponse, response: ProxyResponse): void {
    if (res.destroyed) {
      response.body.destroy(new Error(CLIENT_GONE));
      return;
    }
    if (this.#draining) response.headers.push('connection', 'close');
    res.writeHead(response.status, response.headers);
    response.body.pipeTo(new ClientSink(res, response.body));
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

/** Streams a response body into the client connection, pausing the source when it is full. */
class ClientSink implements BodySink {
  readonly #res: ServerResponse;
  readonly #body: ResponseBody;
  #waitingForDrain = false;

  constructor(res: ServerResponse, body: ResponseBody) {
    this.#res = res;
    this.#body = body;
  }

  write(chunk: Buffer): boolean {
    const more = this.#res.write(chunk);
    if (!more && !this.#waitingForDrain) {
      this.#waitingForDrain = true;
      this.#res.once('drain', this.#onDrain);
    }
    return more;
  }

  end(): void {
    this.#res.end();
  }

  fail(): void {
    // Headers are out; the only honest signal left is to cut the connection.
    this.#res.destroy();
  }

  readonly #onDrain = (): void => {
    this.#waitingForDrain = false;
    this.#body.resume();
  };
}

interface Target {
  readonly authority: string;
  readonly path: string;
  readonly candidate: { method: string; host: string; path: string; headers: IncomingMessage['headers'] };
}

/**
 * Origin-form (`/items?x`) takes its authority from Host; absolute-form (`http://catalog/items`,
 * sent by clients honouring HTTP_PROXY) carries it in the URI. Anything else is a bad request.
 */
function parseTarget(req: IncomingMessage): Target | undefined {
  const url = req.url ?? '';
  let authority: string;
  let path: string;
  if (url.startsWith('/')) {
    authority = req.headers.host ?? '';
    path = url;
  } else if (url.startsWith('http://')) {
    const slash = url.indexOf('/', 7);
    const query = url.indexOf('?', 7);
    const end = slash === -1 ? (query === -1 ? url.length : query) : query === -1 ? slash : Math.min(slash, query);
    authority = url.slice(7, end);
    const rest = url.slice(end);
    path = rest.startsWith('/') ? rest : `/${rest}`;
    if (authority === '') return undefined;
  } else if (url === '*' && req.method === 'OPTIONS') {
    authority = req.headers.host ?? '';
    path = '*';
  } else {
    return undefined;
  }
  const query = path.indexOf('?');
  const pathOnly = query === -1 ? path : path.slice(0, query);
  return {
    authority,
    path,
    candidate: { method: req.method ?? 'GET', host: hostWithoutPort(authority), path: pathOnly, headers: req.headers },
  };
}

function proxyRequest(req: IncomingMessage, listener: string, target: Target | undefined): ProxyRequest {
  const clientAddress = req.socket.remoteAddress ?? '';
  const requested = req.headers['x-request-id'];
  const requestId = typeof requested === 'string' && requested !== '' ? requested : newRequestId();
  const authority = target?.authority ?? '';
  return {
    method: req.method ?? 'GET',
    path: target?.path ?? req.url ?? '',
    authority,
    headers: upstreamRequestHeaders(req.rawHeaders, { clientAddress, authority, requestId, proto: 'http' }),
    body: hasBody(req) ? req : null,
    requestId,
    clientAddress,
    listener,
    incoming: req,
  };
}

function hasBody(req: IncomingMessage): boolean {
  const length = req.headers['content-length'];
  if (length !== undefined) return length !== '0';
  return req.headers['transfer-encoding'] !== undefined;
}

/** Malformed HTTP from a client: a JSON 4xx, then close; the process stays up. */
function rejectMalformed(err: NodeJS.ErrnoException, socket: Socket): void {
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  const [status, reason] = err.code === 'HPE_HEADER_OVERFLOW' ? [431, 'Request Header Fields Too Large'] : [400, 'Bad Request'];
  const body = JSON.stringify({ error: 'bad-request', route: null, upstream: null, message: err.code ?? 'malformed request' });
  socket.end(
    `HTTP/1.1 ${status} ${reason}\r\ncontent-type: application/json\r\nx-outrider-error: bad-request\r\n` +
      `content-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
  );
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}
