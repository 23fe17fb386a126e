/**
 * The admin server, on its own listener (default 127.0.0.1:9901, loopback only):
 * /healthz (the process is up), /readyz (listening and not draining), /metrics (Prometheus
 * text), /config (the running policy), /status (per-route state). It reads from the sidecar
 * through a narrow view and changes nothing.
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { createServer } from '../http/node-http.js';
import type { Socket } from 'node:net';
import { adoptSocket } from '../http/raw-socket.js';
import type { HostPort } from '../config/types.js';
import type { Metrics } from '../observability/metrics.js';

/** Probes and scrapes are small and quick: tight limits, so the admin port is no way to exhaust the process. */
const ADMIN_SERVER_OPTIONS = { headersTimeout: 5_000, requestTimeout: 10_000, maxHeaderSize: 16 * 1024, connectionsCheckingInterval: 1_000 } as const;
const ADMIN_MAX_CONNECTIONS = 256;

export interface AdminView {
  isReady(): boolean;
  config(): unknown;
  status(): unknown;
}

export class AdminServer {
  readonly #server: Server;
  readonly #address: HostPort;

  constructor(address: HostPort, view: AdminView, metrics: Metrics) {
    this.#address = address;
    this.#server = createServer(ADMIN_SERVER_OPTIONS, (req, res) => {
      route(req, res, view, metrics).catch((err: unknown) => sendJson(res, 500, { error: String(err) }));
    });
    this.#server.maxConnections = ADMIN_MAX_CONNECTIONS;
    // Whatever a client sends here, its socket errors are its own (node destroys CONNECT sockets unheard).
    this.#server.on('connection', (socket: Socket) => adoptSocket(socket));
  }

  async start(): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(this.#address.port, this.#address.host, () => {
        this.#server.off('error', reject);
        resolve();
      });
    });
  }

  port(): number {
    const address = this.#server.address();
    return typeof address === 'object' && address !== null ? address.port : this.#address.port;
  }

  async close(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    this.#server.closeAllConnections();
    await closed;
  }
}

async function route(req: IncomingMessage, res: ServerResponse, view: AdminView, metrics: Metrics): Promise<void> {
  const path = (req.url ?? '/').split('?')[0];
  if (req.method !== 'GET' && req.method !== 'HEAD') return sendJson(res, 405, { error: 'method not allowed' });
  switch (path) {
    case '/healthz':
      return sendJson(res, 200, { status: 'ok' });
    case '/readyz':
      return view.isReady() ? sendJson(res, 200, { ready: true }) : sendJson(res, 503, { ready: false });
    case '/metrics': {
      const { contentType, body } = await metrics.exposition();
      res.writeHead(200, { 'content-type': contentType });
      res.end(body);
      return;
    }
    case '/config':
      return sendJson(res, 200, view.config());
    case '/status':
      return sendJson(res, 200, view.status());
    default:
      return sendJson(res, 404, { error: 'not found', endpoints: ['/healthz', '/readyz', '/metrics', '/config', '/status'] });
  }
}

function sendJson(res: ServerResponse, status: number, value: unknown): void {
  const body = JSON.stringify(value, null, 2);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store' });
  res.end(body);
}
