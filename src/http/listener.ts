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
import { NO_ROUTE, type BodySink, type Exchange, type Handler, type ProxyRequest, type ProxyResponse, type ResponseBody } from '../pipeline/layer.js';
import type { RouteRuntime } from '../pipeline/build.js';
import { hostWithoutPort, type RouteTable } from '../routing/route-table.js';
import { errorResponse } from './error-response.js';
import { adoptSocket, writeRefusal } from './raw-socket.js';
import { hopCount, HOPS_HEADER, MAX_HOPS, newRequestId, upstreamRequestHeaders } from './headers.js';

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

/**
 * Limits against slow, greedy or hostile clients (docs/security.md). Constants, not policy
 * keys; `Sidecar.start` takes overrides for tests and embedders. The values follow Envoy's
 * edge guidance where it gives one.
 */
export interface ListenerLimits {
  /** Header fields per request; more is 431 headers-too-large. (node's maxHeadersCount only truncates.) */
  readonly maxHeaders: number;
  /** Bytes of request line and headers together (llhttp's limit); more is 431 headers-too-large. */
  readonly maxHeaderBytes: number;
  /** Characters of the request target; more is 414 uri-too-long. */
  readonly maxUriLength: number;
  /** Open client connections per listener; beyond it a new connection is closed at accept. */
  readonly maxConnections: number;
  /** The whole header block must arrive within this (slowloris); else 408 and close. */
  readonly headersTimeoutMs: number;
  /** The whole request, body included, must arrive within this; else 408 (or a cut) and close. */
  readonly requestTimeoutMs: number;
  /** An idle keep-alive connection is closed after this. */
  readonly keepAliveTimeoutMs: number;
  /**
   * Response bytes kept for a client that reads slower than the upstream sends. Within it the
   * upstream connection is released as soon as the upstream is done (a slow reader cannot
   * hold it); past it the upstream is paused and the route's idleTimeout applies.
   */
  readonly clientBufferBytes: number;
}

export const LISTENER_LIMITS: ListenerLimits = Object.freeze({
  maxHeaders: 100,
  maxHeaderBytes: 64 * 1024,
  maxUriLength: 8 * 1024,
  maxConnections: 16_384,
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 300_000,
  // Longer than typical client pools' idle time, so the app never reuses a socket we closed.
  keepAliveTimeoutMs: 65_000,
  clientBufferBytes: 256 * 1024,
});

function serverOptions(limits: ListenerLimits) {
  return {
    headersTimeout: limits.headersTimeoutMs,
    requestTimeout: limits.requestTimeoutMs,
    keepAliveTimeout: limits.keepAliveTimeoutMs,
    // How often node looks for connections past headersTimeout/requestTimeout (default 30 s,
    // which would let a slowloris connection live 40 s instead of 10).
    connectionsCheckingInterval: Math.max(10, Math.min(1000, Math.floor(limits.headersTimeoutMs / 4))),
    maxHeaderSize: limits.maxHeaderBytes,
    // The strict parser, always: the lenient one is how request smuggling gets in.
    insecureHTTPParser: false,
    // Checked in #screen instead, so a missing Host gets the same JSON 400 as the rest.
    requireHostHeader: false,
  } as const;
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

/**
 * Streams a response body into the client connection. It keeps taking bytes while less than
 * `bufferBytes` wait to be sent, so a slow reader does not hold the upstream connection for a
 * response that fits (nginx's proxy buffers); past that it pauses the source until the client
 * has read everything queued ('drain').
 */
class ClientSink implements BodySink {
  readonly #res: ServerResponse;
  readonly #body: ResponseBody;
  readonly #bufferBytes: number;
  #waitingForDrain = false;

  constructor(res: ServerResponse, body: ResponseBody, bufferBytes: number) {
    this.#res = res;
    this.#body = body;
    this.#bufferBytes = bufferBytes;
  }

  write(chunk: Buffer): boolean {
    if (this.#res.write(chunk) || this.#res.writableLength < this.#bufferBytes) return true;
    if (!this.#waitingForDrain) {
      this.#waitingForDrain = true;
      this.#res.once('drain', this.#onDrain);
    }
    return false;
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

const NO_HEADERS: readonly string[] = Object.freeze([]);

/**
 * What the listener refuses before routing, cheapest checks first (a few comparisons on the
 * common path; an error object only for a refusal). The parser has already refused ambiguous
 * framing (CL with TE, bad or repeated CL, obs-fold, bad characters, bad chunk sizes).
 */
function screen(req: IncomingMessage, limits: ListenerLimits, listener: string): OutriderError | undefined {
  if (req.rawHeaders.length > limits.maxHeaders * 2) {
    return new OutriderError('headers-too-large', `more than ${limits.maxHeaders} header fields`, { listener });
  }
  const url = req.url ?? '';
  if (url.length > limits.maxUriLength) {
    return new OutriderError('uri-too-long', `request target longer than ${limits.maxUriLength} characters`, { listener });
  }
  if (req.httpVersionMajor !== 1) return new OutriderError('bad-request', `HTTP/${req.httpVersion} is not supported`, { listener });
  const headers = req.headers;
  const transferEncoding = headers['transfer-encoding'];
  if (transferEncoding !== undefined) {
    // RFC 9112 §6.1: in HTTP/1.0 the framing is faulty; other codings we cannot pass on (501 in the RFC).
    if (req.httpVersionMinor === 0) return new OutriderError('bad-request', 'Transfer-Encoding in an HTTP/1.0 request', { listener });
    if (!CHUNKED.test(transferEncoding)) {
      return new OutriderError('bad-request', `unsupported Transfer-Encoding: ${transferEncoding.slice(0, 64)}`, { listener });
    }
  }
  if (headers.host === undefined && req.httpVersionMinor === 1) return new OutriderError('bad-request', 'HTTP/1.1 request without Host', { listener });
  const hops = hopCount(headers[HOPS_HEADER] as string | undefined);
  if (hops >= MAX_HOPS) {
    return new OutriderError('loop-detected', `request has passed Outrider ${hops} times already (${HOPS_HEADER}): a routing loop?`, {
      listener,
    });
  }
  return undefined;
}

const CHUNKED = /^chunked$/i;

function proxyRequest(req: IncomingMessage, listener: string, target: Target | undefined, refusal: OutriderError | undefined): ProxyRequest {
  const clientAddress = req.socket.remoteAddress ?? '';
  const requested = req.headers['x-request-id'];
  const requestId = typeof requested === 'string' && requested !== '' ? requested : newRequestId();
  const authority = target?.authority ?? '';
  const hops = hopCount(req.headers[HOPS_HEADER] as string | undefined) + 1;
  const headers = refusal === undefined ? upstreamRequestHeaders(req.rawHeaders, { clientAddress, authority, requestId, proto: 'http', hops }) : NO_HEADERS;
  return {
    method: req.method ?? 'GET',
    path: target?.path ?? req.url ?? '',
    authority,
    headers: headers ?? NO_HEADERS,
    body: hasBody(req) ? req : null,
    requestId,
    clientAddress,
    listener,
    incoming: req,
    refusal: headers === undefined ? new OutriderError('bad-request', 'more than one Host header field', { listener }) : refusal,
  };
}

function hasBody(req: IncomingMessage): boolean {
  const length = req.headers['content-length'];
  if (length !== undefined) return length !== '0';
  return req.headers['transfer-encoding'] !== undefined;
}

/**
 * Malformed HTTP from a client, or a client too slow to send its request: a JSON 4xx, then
 * close; the process stays up. Returns the code answered, or undefined when the connection was
 * only cut: the client is gone, the answer to the broken request has begun, or an earlier
 * request on this connection is still being answered (pipelining), where a 400 written now
 * would be read as that earlier request's answer: a response desync.
 */
function rejectMalformed(err: NodeJS.ErrnoException, socket: Socket, listener: string): ErrorCode | undefined {
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

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}
