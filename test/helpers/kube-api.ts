/**
 * A STAND-IN for the Kubernetes API server, not a real one: a node:http (or https) server on
 * 127.0.0.1 that speaks the real list/watch wire format for EndpointSlices and answers Service
 * reads, so discovery runs against the protocol without a cluster. What it implements:
 *
 * - GET /apis/discovery.k8s.io/v1/namespaces/NS/endpointslices?labelSelector=kubernetes.io/service-name=S
 *   → an EndpointSliceList with metadata.resourceVersion.
 * - the same with watch=true|1&resourceVersion=RV → 200 and newline-delimited JSON events
 *   {"type":"ADDED"|"MODIFIED"|"DELETED"|"BOOKMARK"|"ERROR","object":…} after RV, then the
 *   live ones; an RV older than the history kept (expire()) → 200 and an ERROR event whose
 *   object is a Status with code 410 (reason Expired), then the end of the stream, as the real
 *   server does. timeoutSeconds ends the stream.
 * - GET /api/v1/namespaces/NS/services/S → the Service, or a 404 Status.
 * - A bearer token when one is set (401 otherwise), 403 while forbid() is on.
 *
 * The test controls it: apply/remove slices (each a new resourceVersion), end, cut or fail
 * the open watches, expire the history, refuse (403), hold requests unanswered, go down
 * (connections cut, port closed) and come back up.
 */
import { writeFileSync } from 'node:fs';
import { createServer as createHttp, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttps } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { join } from 'node:path';

export interface Slice {
  readonly metadata: { name: string; namespace: string; labels: Record<string, string>; resourceVersion?: string };
  readonly addressType: 'IPv4' | 'IPv6' | 'FQDN';
  readonly endpoints: { addresses: string[]; conditions: { ready?: boolean } }[];
  readonly ports: { name: string; port: number; protocol: 'TCP' | 'UDP' }[];
}

/** A slice of Service `service`: pods as [address, ready], one named port. */
export function slice(name: string, service: string, pods: readonly (readonly [string, boolean])[], port: { name: string; port: number }, namespace = 'shop'): Slice {
  return {
    metadata: { name, namespace, labels: { 'kubernetes.io/service-name': service } },
    addressType: pods.some(([a]) => a.includes(':')) ? 'IPv6' : 'IPv4',
    endpoints: pods.map(([address, ready]) => ({ addresses: [address], conditions: { ready } })),
    ports: [{ ...port, protocol: 'TCP' }],
  };
}

interface Event {
  readonly rv: number;
  readonly type: 'ADDED' | 'MODIFIED' | 'DELETED';
  readonly object: Slice;
}

interface OpenWatch {
  readonly res: ServerResponse;
  readonly namespace: string;
  readonly service: string;
}

export interface KubeApiOptions {
  readonly tls?: { readonly cert: string | Buffer; readonly key: string | Buffer };
  readonly token?: string;
}

export class KubeApiStandIn {
  readonly counts = { lists: 0, watches: 0, services: 0, refused: 0, stalled: 0 };
  readonly #server: Server;
  readonly #token: string | undefined;
  readonly #scheme: 'http' | 'https';
  readonly #sockets = new Set<Socket>();
  readonly #slices = new Map<string, Slice>();
  readonly #services = new Map<string, unknown>();
  #watches = new Set<OpenWatch>();
  #history: Event[] = [];
  #rv = 100;
  #oldest = 100;
  #forbidden = false;
  #goneAsStatus = false;
  #stalled = false;
  #port = 0;

  private constructor(options: KubeApiOptions) {
    const handler = (req: IncomingMessage, res: ServerResponse): void => this.#handle(req, res);
    this.#server = options.tls === undefined ? createHttp(handler) : createHttps({ cert: options.tls.cert, key: options.tls.key }, handler);
    this.#scheme = options.tls === undefined ? 'http' : 'https';
    this.#token = options.token;
    this.#server.on('connection', (s: Socket) => {
      this.#sockets.add(s);
      s.on('close', () => this.#sockets.delete(s));
    });
  }

  static async start(options: KubeApiOptions = {}): Promise<KubeApiStandIn> {
    const api = new KubeApiStandIn(options);
    await api.up();
    return api;
  }

  get port(): number {
    return this.#port;
  }

  get url(): string {
    return `${this.#scheme}://127.0.0.1:${this.#port}`;
  }

  get openWatches(): number {
    return this.#watches.size;
  }

  /** Add or change a slice: ADDED or MODIFIED to every matching watch. */
  apply(s: Slice): void {
    const key = `${s.metadata.namespace}/${s.metadata.name}`;
    this.#record(this.#slices.has(key) ? 'MODIFIED' : 'ADDED', s);
    this.#slices.set(key, this.#history.at(-1)?.object as Slice);
  }

  remove(name: string, namespace = 'shop'): void {
    const key = `${namespace}/${name}`;
    const gone = this.#slices.get(key);
    if (gone === undefined) throw new Error(`no slice ${key}`);
    this.#slices.delete(key);
    this.#record('DELETED', gone);
  }

  setService(namespace: string, name: string, ports: readonly { name?: string; port: number; protocol?: string }[] | undefined): void {
    if (ports === undefined) this.#services.delete(`${namespace}/${name}`);
    else this.#services.set(`${namespace}/${name}`, { kind: 'Service', apiVersion: 'v1', metadata: { name, namespace }, spec: { ports } });
  }

  forbid(on: boolean): void {
    this.#forbidden = on;
  }

  /** Hold every request from now on without an answer (a server that accepts and never replies). */
  stall(on: boolean): void {
    this.#stalled = on;
  }

  /** End every open watch stream cleanly, as the server's timeout or a restart does. */
  dropWatches(): void {
    for (const w of this.#watches) w.res.end();
    this.#watches.clear();
  }

  /** Cut the open watches' connections (a load balancer or a crash), without a clean end. */
  cutWatches(): void {
    for (const w of this.#watches) w.res.socket?.destroy();
    this.#watches.clear();
  }

  /** An ERROR event with this status on every open watch, then the end of the stream. */
  failWatches(code: number, message: string): void {
    const object = { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason: 'InternalError', code };
    for (const w of this.#watches) w.res.end(`${JSON.stringify({ type: 'ERROR', object })}\n`);
    this.#watches.clear();
  }

  /**
   * Forget the history (etcd compaction): open watches get ERROR 410; so do watches from an
   * older RV, or (asStatus) an HTTP 410 answer instead, which clients must handle too.
   */
  expire(asStatus = false): void {
    this.#goneAsStatus = asStatus;
    this.#oldest = this.#rv;
    this.#history = [];
    for (const w of this.#watches) this.#gone(w.res, 0);
    this.#watches.clear();
  }

  /** A BOOKMARK with the current resourceVersion to every open watch. */
  bookmark(): void {
    const object = { kind: 'EndpointSlice', apiVersion: 'discovery.k8s.io/v1', metadata: { resourceVersion: String(this.#rv) } };
    for (const w of this.#watches) w.res.write(`${JSON.stringify({ type: 'BOOKMARK', object })}\n`);
  }

  /** Stop listening and cut every connection (watches included); up() listens again on the same port. */
  async down(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    for (const s of this.#sockets) s.destroy();
    this.#watches.clear();
    await closed;
  }

  async up(): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(this.#port, '127.0.0.1', () => {
        this.#server.off('error', reject);
        resolve();
      });
    });
    this.#port = (this.#server.address() as AddressInfo).port;
  }

  /** A kubeconfig naming this server (plain http needs insecure-skip-tls-verify for client-node). */
  kubeconfig(dir: string, namespace = 'shop'): string {
    const file = join(dir, 'kubeconfig');
    const user = this.#token === undefined ? '{}' : `{ token: ${this.#token} }`;
    writeFileSync(
      file,
      `apiVersion: v1
kind: Config
clusters: [ { name: stand-in, cluster: { server: "${this.url}", insecure-skip-tls-verify: true } } ]
users: [ { name: test, user: ${user} } ]
contexts: [ { name: test, context: { cluster: stand-in, user: test, namespace: ${namespace} } } ]
current-context: test
`,
    );
    return file;
  }

  close(): Promise<void> {
    return this.down();
  }

  #record(type: Event['type'], s: Slice): void {
    this.#rv += 1;
    const object = { kind: 'EndpointSlice', apiVersion: 'discovery.k8s.io/v1', ...structuredClone(s), metadata: { ...structuredClone(s.metadata), resourceVersion: String(this.#rv) } };
    const event = { rv: this.#rv, type, object };
    this.#history.push(event);
    for (const w of this.#watches) if (matches(object, w.namespace, w.service)) w.res.write(`${JSON.stringify({ type, object })}\n`);
  }

  #handle(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://stand-in');
    if (this.#stalled) {
      this.counts.stalled += 1;
      return;
    }
    if (this.#token !== undefined && req.headers.authorization !== `Bearer ${this.#token}`) return status(res, 401, 'Unauthorized', 'Unauthorized');
    const slices = /^\/apis\/discovery\.k8s\.io\/v1\/namespaces\/([^/]+)\/endpointslices$/.exec(url.pathname);
    const service = /^\/api\/v1\/namespaces\/([^/]+)\/services\/([^/]+)$/.exec(url.pathname);
    if (this.#forbidden) {
      this.counts.refused += 1;
      return status(res, 403, 'Forbidden', `endpointslices.discovery.k8s.io is forbidden: User "system:serviceaccount:shop:web" cannot list resource "endpointslices" in API group "discovery.k8s.io"`);
    }
    if (service !== null) {
      this.counts.services += 1;
      const found = this.#services.get(`${service[1]}/${service[2]}`);
      if (found === undefined) return status(res, 404, 'NotFound', `services "${service[2]}" not found`);
      return json(res, found);
    }
    if (slices === null) return status(res, 404, 'NotFound', 'the server could not find the requested resource');
    const namespace = slices[1] as string;
    const selected = /^kubernetes\.io\/service-name=(.+)$/.exec(url.searchParams.get('labelSelector') ?? '')?.[1] ?? '';
    if (['true', '1'].includes(url.searchParams.get('watch') ?? '')) return this.#watch(res, namespace, selected, url.searchParams);
    this.counts.lists += 1;
    const items = [...this.#slices.values()].filter((s) => matches(s, namespace, selected));
    json(res, { kind: 'EndpointSliceList', apiVersion: 'discovery.k8s.io/v1', metadata: { resourceVersion: String(this.#rv) }, items });
  }

  #watch(res: ServerResponse, namespace: string, service: string, query: URLSearchParams): void {
    this.counts.watches += 1;
    const from = Number(query.get('resourceVersion') ?? '0');
    if (this.#goneAsStatus && from !== 0 && from < this.#oldest) return status(res, 410, 'Expired', `too old resource version: ${from} (${this.#oldest})`);
    res.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' });
    // The real server sends the headers at once; node would hold them until the first event.
    res.flushHeaders();
    if (from !== 0 && from < this.#oldest) return this.#gone(res, from);
    const replay = from === 0 ? [...this.#slices.values()].map((object) => ({ type: 'ADDED', object })) : this.#history.filter((e) => e.rv > from);
    for (const e of replay) if (matches(e.object, namespace, service)) res.write(`${JSON.stringify({ type: e.type, object: e.object })}\n`);
    const open = { res, namespace, service };
    this.#watches.add(open);
    res.on('close', () => this.#watches.delete(open));
    const timeout = Number(query.get('timeoutSeconds') ?? '0');
    if (timeout > 0) setTimeout(() => res.end(), timeout * 1000).unref();
  }

  #gone(res: ServerResponse, from: number): void {
    const object = { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: `too old resource version: ${from} (${this.#oldest})`, reason: 'Expired', code: 410 };
    res.end(`${JSON.stringify({ type: 'ERROR', object })}\n`);
  }
}

function matches(s: Slice, namespace: string, service: string): boolean {
  return s.metadata.namespace === namespace && s.metadata.labels['kubernetes.io/service-name'] === service;
}

function json(res: ServerResponse, body: unknown): void {
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

function status(res: ServerResponse, code: number, reason: string, message: string): void {
  res.writeHead(code, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code }));
}
