/**
 * The injector: an HTTPS server for the API server's mutating admission webhook calls.
 *   POST /inject            pods of namespaces labelled outrider.io/inject=enabled: injected
 *                           unless the pod says outrider.io/inject: disabled
 *   POST /inject/annotated  pods of other namespaces: injected only if the pod says enabled
 *   GET  /healthz           200 while the process serves
 * A bad request is answered and logged; nothing a caller sends stops the server. The
 * certificate files are read again every minute, so a renewed Secret (cert-manager's, mounted
 * and swapped by the kubelet) is served without a restart.
 */
import { readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from '../../observability/logger.js';
import type { InjectOptions } from '../inject/plan.js';
import { answerReview } from './review.js';

/** A Pod's review is a few KiB to a few hundred; the API server's own object limit is 3 MiB. */
const MAX_BODY_BYTES = 4 * 1024 * 1024;
const CERT_CHECK_MS = 60_000;

export interface InjectorOptions {
  readonly host: string;
  readonly port: number;
  readonly certFile: string;
  readonly keyFile: string;
  readonly inject: Omit<InjectOptions, 'optIn'>;
  readonly log: Logger;
}

const ROUTES: Readonly<Record<string, InjectOptions['optIn']>> = { '/inject': 'unless-disabled', '/inject/annotated': 'if-enabled' };

export class InjectorServer {
  readonly #server: Server;
  readonly #options: InjectorOptions;
  #pem: string;
  readonly #timer: NodeJS.Timeout;

  private constructor(options: InjectorOptions, pem: { cert: string; key: string }) {
    this.#options = options;
    this.#pem = pem.cert + pem.key;
    this.#server = createServer({ ...pem, minVersion: 'TLSv1.2', headersTimeout: 10_000, requestTimeout: 30_000 }, (req, res) => {
      this.#handle(req, res).catch((err: unknown) => {
        options.log.error({ err }, 'injector: request failed');
        if (!res.headersSent) send(res, 500, 'text/plain', 'internal error\n');
        else res.destroy();
      });
    });
    // A client's broken TLS or socket is its own affair: the server keeps serving.
    this.#server.on('tlsClientError', (err) => options.log.debug({ err: err.message }, 'injector: TLS handshake failed'));
    this.#timer = setInterval(() => void this.reloadCertificate(), CERT_CHECK_MS);
    this.#timer.unref();
  }

  static async start(options: InjectorOptions): Promise<InjectorServer> {
    const injector = new InjectorServer(options, await readPem(options));
    await new Promise<void>((resolve, reject) => {
      injector.#server.once('error', reject);
      injector.#server.listen(options.port, options.host, () => {
        injector.#server.off('error', reject);
        resolve();
      });
    });
    const { image, captureImage, policy, capture } = options.inject;
    options.log.info({ address: `${options.host}:${injector.port()}`, image, captureImage, policy, capture }, 'injector ready');
    return injector;
  }

  port(): number {
    const address = this.#server.address();
    return typeof address === 'object' && address !== null ? address.port : this.#options.port;
  }

  /** Serve the certificate files' current contents if they changed; true when it did. */
  async reloadCertificate(): Promise<boolean> {
    try {
      const pem = await readPem(this.#options);
      if (pem.cert + pem.key === this.#pem) return false;
      this.#server.setSecureContext({ ...pem, minVersion: 'TLSv1.2' });
      this.#pem = pem.cert + pem.key;
      this.#options.log.info({ certFile: this.#options.certFile }, 'injector: certificate reloaded');
      return true;
    } catch (err) {
      this.#options.log.error({ err: (err as Error).message }, 'injector: certificate reload failed; the previous one stays');
      return false;
    }
  }

  async close(): Promise<void> {
    clearInterval(this.#timer);
    const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    this.#server.closeIdleConnections();
    await closed;
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0] as string;
    if (path === '/healthz') {
      if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 405, 'text/plain', 'GET only\n', { allow: 'GET, HEAD' });
      return send(res, 200, 'text/plain', 'ok\n');
    }
    const optIn = Object.hasOwn(ROUTES, path) ? ROUTES[path] : undefined;
    if (optIn === undefined) return send(res, 404, 'text/plain', 'not found: POST /inject, POST /inject/annotated, GET /healthz\n');
    if (req.method !== 'POST') return send(res, 405, 'text/plain', 'POST an AdmissionReview\n', { allow: 'POST' });
    const body = await readBody(req);
    if (body === undefined) return send(res, 413, 'text/plain', `an AdmissionReview is at most ${MAX_BODY_BYTES} bytes\n`);

    const answer = answerReview(body, { ...this.#options.inject, optIn });
    if (answer.status === 400) {
      this.#options.log.warn({ path, error: answer.message }, 'injector: malformed AdmissionReview');
      return send(res, 400, 'text/plain', `malformed AdmissionReview: ${answer.message}\n`);
    }
    const { outcome } = answer;
    if (outcome.warning !== undefined) this.#options.log.warn({ path, ...outcome }, 'injector: allowed unchanged');
    else this.#options.log.info({ path, ...outcome }, outcome.injected ? 'injector: injected' : 'injector: not injected');
    send(res, 200, 'application/json', JSON.stringify(answer.review));
  }
}

async function readPem(options: InjectorOptions): Promise<{ cert: string; key: string }> {
  const [cert, key] = await Promise.all([readFile(options.certFile, 'utf8'), readFile(options.keyFile, 'utf8')]);
  return { cert, key };
}

/**
 * The body as text, or undefined past MAX_BODY_BYTES. Past the limit the rest is still read
 * and dropped: closing a socket with unread bytes resets it, and the 413 would be lost.
 * requestTimeout bounds how long that takes.
 */
async function readBody(req: IncomingMessage): Promise<string | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size <= MAX_BODY_BYTES) chunks.push(chunk as Buffer);
  }
  return size > MAX_BODY_BYTES ? undefined : Buffer.concat(chunks).toString('utf8');
}

function send(res: ServerResponse, status: number, type: string, body: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body), ...headers });
  res.end(body);
}
