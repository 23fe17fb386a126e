/**
 * Kubernetes endpoint discovery for one upstream (traffic.md, Upstreams `kubernetes`): list
 * the Service's EndpointSlices, then watch them from the list's resourceVersion, and hand the
 * ready endpoints to the upstream after every change (slices.ts says which count).
 *
 * How it keeps going, as client-go's reflector does:
 * - A watch the server ends (its timeoutSeconds, a restart, a load balancer) is reopened from
 *   the last resourceVersion seen, so no event is lost and nothing is listed again.
 * - 410 Gone (the resourceVersion is older than the server keeps: an ERROR event, or the
 *   watch request's own status) → list again, then watch from the new list.
 * - A list or watch that fails (API server down, 403, timeout) keeps the last good endpoints,
 *   retries with exponential backoff and jitter, and is reported once per outage (onError);
 *   the first success after it is reported too (onRecovered).
 * - A watch is reopened no sooner than minWatchIntervalMs after the last one opened, so a
 *   server that ends every watch at once is not hammered.
 *
 * Uses @kubernetes/client-node's KubeConfig (in-cluster or kubeconfig credentials, token
 * re-reading) and, in stream.ts, its Watch (the watch wire format); this module is imported
 * only when an upstream uses `kubernetes:` (upstream.ts), so a sidecar without one never loads
 * that package.
 */
import type { KubeConfig } from '@kubernetes/client-node';
import type { EndpointUrl, KubernetesServicePolicy, UpstreamPolicy } from '../../config/types.js';
import { systemClock, type Clock } from '../../util/clock.js';
import { ApiError, getJson, loadKubeConfig, podNamespace } from './kube-api.js';
import { Gone, watchOnce } from './stream.js';
import { endpointsFromSlices, servicePortName, slicePortNames, type EndpointSliceLike, type ServicePortLike } from './slices.js';
import type { DiscoveryHooks, DiscoveryOptions, DiscoveryStatus, EndpointDiscovery, StartDiscovery } from './types.js';

/**
 * Each watch asks the server to end it after 5 to 10 minutes (client-go's spread, so that
 * sidecars started together do not re-watch together); a client deadline 30 s later ends a
 * watch whose connection went silent (a partition sends no reset).
 */
const WATCH_TIMEOUT_SECONDS = 300;
const WATCH_GRACE_MS = 30_000;

type Target = UpstreamPolicy & { kubernetes: KubernetesServicePolicy };

export const startEndpointDiscovery: StartDiscovery = (upstream, hooks, options) => new EndpointSliceDiscovery(upstream, hooks, options);

class EndpointSliceDiscovery implements EndpointDiscovery {
  readonly firstSync: Promise<void>;
  readonly #target: Target;
  readonly #hooks: DiscoveryHooks;
  readonly #clock: Clock;
  readonly #options: Required<Omit<DiscoveryOptions, 'clock'>>;
  readonly #namespace: string | undefined;
  readonly #slicesPath: string;
  readonly #selector: string;
  #kc: KubeConfig | undefined;
  #slices = new Map<string, EndpointSliceLike>();
  #resourceVersion: string | undefined;
  #portName: string | undefined;
  #endpoints: readonly EndpointUrl[] = [];
  #state: DiscoveryStatus['state'] = 'starting';
  /** Wall-clock times for /status (Date.now()); the clock paces watches. */
  #lastSync: number | undefined;
  #error: string | undefined;
  #failingSince: number | undefined;
  #failures = 0;
  #note: string | undefined;
  #lastWatchAt = Number.NEGATIVE_INFINITY;
  #closed = false;
  /** Ends the current wait (backoff, pacing) or watch early: close() calls it. */
  #interrupt: (() => void) | undefined;
  #settleFirst: () => void = () => undefined;

  constructor(target: Target, hooks: DiscoveryHooks, options: DiscoveryOptions = {}) {
    this.#target = target;
    this.#hooks = hooks;
    this.#clock = options.clock ?? systemClock;
    this.#options = {
      backoffBaseMs: options.backoffBaseMs ?? 500,
      backoffMaxMs: options.backoffMaxMs ?? 30_000,
      minWatchIntervalMs: options.minWatchIntervalMs ?? 1_000,
      requestTimeoutMs: options.requestTimeoutMs ?? 15_000,
      serviceAccountPrefix: options.serviceAccountPrefix ?? '',
      env: options.env ?? process.env,
    };
    this.#namespace = target.kubernetes.namespace ?? podNamespace(this.#options.env, this.#options.serviceAccountPrefix);
    this.#slicesPath = `/apis/discovery.k8s.io/v1/namespaces/${this.#namespace ?? ''}/endpointslices`;
    this.#selector = `kubernetes.io/service-name=${target.kubernetes.service}`;
    this.firstSync = new Promise((resolve) => {
      const timer = setTimeout(resolve, this.#options.requestTimeoutMs);
      timer.unref();
      this.#settleFirst = () => {
        clearTimeout(timer);
        resolve();
      };
    });
    void this.#run();
  }

  status(): DiscoveryStatus {
    const { service, port } = this.#target.kubernetes;
    const iso = (ms: number | undefined): string | undefined => (ms === undefined ? undefined : new Date(ms).toISOString());
    return {
      source: 'kubernetes',
      service,
      namespace: this.#namespace,
      port,
      state: this.#state,
      endpoints: this.#endpoints.length,
      lastSync: iso(this.#lastSync) ?? null,
      ...(this.#error === undefined ? {} : { error: this.#error, failingSince: iso(this.#failingSince), failures: this.#failures }),
      ...(this.#note === undefined ? {} : { note: this.#note }),
    };
  }

  close(): void {
    this.#closed = true;
    this.#interrupt?.();
    this.#settleFirst();
  }

  /** One turn per list, watch or wait; each waits on the network or a timer, until close(). */
  async #run(): Promise<void> {
    while (!this.#closed) {
      try {
        this.#kc ??= this.#connect();
        if (this.#resourceVersion === undefined) await this.#list(this.#kc);
        await this.#sleep(this.#lastWatchAt + this.#options.minWatchIntervalMs - this.#clock.now());
        if (!this.#closed) await this.#watch(this.#kc);
      } catch (err) {
        if (this.#closed) return;
        if (err instanceof Gone) {
          this.#resourceVersion = undefined;
          continue;
        }
        this.#failed(err as Error);
        await this.#sleep(this.#backoffMs());
      }
    }
  }

  #connect(): KubeConfig {
    if (this.#namespace === undefined) {
      throw new Error('no namespace: give kubernetes.namespace, or run in a pod (POD_NAMESPACE or the service account namespace file)');
    }
    return loadKubeConfig(this.#options.env, this.#options.serviceAccountPrefix);
  }

  async #list(kc: KubeConfig): Promise<void> {
    const { service, port } = this.#target.kubernetes;
    const timeout = this.#options.requestTimeoutMs;
    // The slices name the Service's ports, not their numbers: a number needs the Service (re-read at each list).
    if (typeof port === 'number') {
      const svc = (await getJson(kc, `/api/v1/namespaces/${this.#namespace ?? ''}/services/${service}`, timeout)) as { spec?: { ports?: ServicePortLike[] } };
      this.#portName = servicePortName(port, svc.spec?.ports);
    } else {
      this.#portName = port;
    }
    const query = `?labelSelector=${encodeURIComponent(this.#selector)}`;
    const list = (await getJson(kc, `${this.#slicesPath}${query}`, timeout)) as { metadata?: { resourceVersion?: string }; items?: EndpointSliceLike[] };
    this.#slices = new Map((list.items ?? []).map((slice) => [slice.metadata?.name ?? '', slice]));
    this.#resourceVersion = list.metadata?.resourceVersion ?? '';
    this.#publish();
    this.#synced();
  }

  /** One watch, from the last resourceVersion; resolves when it ends without a failure (stream.ts). */
  async #watch(kc: KubeConfig): Promise<void> {
    this.#lastWatchAt = this.#clock.now();
    const timeoutSeconds = Math.round(WATCH_TIMEOUT_SECONDS * (1 + Math.random()));
    const watch = watchOnce(kc, {
      path: this.#slicesPath,
      params: { resourceVersion: this.#resourceVersion, allowWatchBookmarks: true, labelSelector: this.#selector, timeoutSeconds },
      requestTimeoutMs: this.#options.requestTimeoutMs,
      graceMs: WATCH_GRACE_MS,
      onOpen: () => this.#synced(),
      onEvent: (type, object) => this.#event(type, object),
    });
    this.#interrupt = watch.stop;
    try {
      await watch.ended;
    } finally {
      this.#interrupt = undefined;
    }
  }

  /** Apply one watch event; an error it carries is returned (Watch would swallow a throw). */
  #event(type: string, object: unknown): Error | undefined {
    const slice = object as EndpointSliceLike;
    switch (type) {
      case 'ADDED':
      case 'MODIFIED':
        this.#slices.set(slice.metadata?.name ?? '', slice);
        break;
      case 'DELETED':
        this.#slices.delete(slice.metadata?.name ?? '');
        break;
      case 'BOOKMARK':
        break;
      case 'ERROR': {
        const status = object as { code?: number; message?: string };
        return status.code === 410 ? new Gone() : new ApiError(status.code ?? 0, `watch ${this.#slicesPath}: ${status.message ?? 'ERROR event'}`);
      }
      default:
        return undefined;
    }
    this.#resourceVersion = slice.metadata?.resourceVersion ?? this.#resourceVersion;
    this.#lastSync = Date.now();
    if (type !== 'BOOKMARK') this.#publish();
    return undefined;
  }

  /** Recompute the ready endpoints; tell the upstream when they changed. */
  #publish(): void {
    const { service, port } = this.#target.kubernetes;
    const tls = this.#target.tls;
    const where = `${this.#namespace ?? ''}/${service}`;
    const form = { scheme: tls === undefined ? 'http' : 'https', tlsName: `${service}.${this.#namespace ?? ''}.svc` } as const;
    const next = this.#portName === undefined ? [] : endpointsFromSlices(this.#slices.values(), this.#portName, form);
    this.#note = this.#noteFor(next, where, port);
    const key = (list: readonly EndpointUrl[]): string => list.map((e) => e.origin).join(' ');
    if (key(next) === key(this.#endpoints)) return;
    this.#endpoints = next;
    this.#hooks.onEndpoints(next);
  }

  #noteFor(endpoints: readonly EndpointUrl[], where: string, port: string | number): string | undefined {
    if (this.#portName === undefined) return `Service ${where} has no TCP port ${port}`;
    if (endpoints.length > 0) return undefined;
    if (this.#slices.size === 0) return `no EndpointSlices for Service ${where} (no such Service, or a Service without a selector)`;
    const names = slicePortNames(this.#slices.values());
    if (!names.includes(this.#portName)) return `no EndpointSlice of Service ${where} has a port named "${this.#portName}" (they have: ${names.map((n) => `"${n}"`).join(', ')})`;
    return `Service ${where} has no ready pods`;
  }

  #synced(): void {
    const recovering = this.#state === 'failing';
    this.#state = 'watching';
    this.#lastSync = Date.now();
    this.#error = undefined;
    this.#failingSince = undefined;
    this.#failures = 0;
    if (recovering) this.#hooks.onRecovered?.(this.#endpoints.length);
    this.#settleFirst();
  }

  #failed(err: Error): void {
    this.#failures += 1;
    this.#error = err.message;
    if (this.#state !== 'failing') {
      this.#state = 'failing';
      this.#failingSince = Date.now();
      this.#hooks.onError?.(err);
    }
    this.#settleFirst();
  }

  /** base·2^(failures-1), at most max, then between half and all of it (jitter). */
  #backoffMs(): number {
    const { backoffBaseMs, backoffMaxMs } = this.#options;
    const ceiling = Math.min(backoffMaxMs, backoffBaseMs * 2 ** Math.min(this.#failures - 1, 30));
    return ceiling / 2 + Math.random() * (ceiling / 2);
  }

  #sleep(ms: number): Promise<void> {
    if (ms <= 0 || this.#closed) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done(): void {
        clearTimeout(timer);
        resolve();
      }
      this.#interrupt = done;
    });
  }
}
