/**
 * The composition root: policy file → upstreams, route pipelines, listeners, admin server;
 * then hot reload (watch the file and its folder, swap atomically, keep the old policy when
 * the new one is invalid) and graceful drain.
 */
import type { FSWatcher } from 'node:fs';
import { resolve as resolvePath } from 'node:path';
import { AdminServer } from './admin/server.js';
import { statusView } from './admin/status-view.js';
import { watchPolicyFile } from './config/watch.js';
import { buildRuntime, policyHash, type Runtime } from './sidecar/runtime.js';
import { loadPolicyFile } from './config/load.js';
import { formatIssue, type HostPort, type Policy, type PolicyIssue } from './config/types.js';
import { isIP } from 'node:net';
import { LISTENER_LIMITS, type ListenerLimits } from './http/limits.js';
import { Listener, type ListenerRoutes, type TunnelKind } from './http/listener.js';
import type { TunnelBytes } from './http/tunnel.js';
import { JsonAccessLog, stdoutAccessLog, type AccessLog, type LineDestination } from './observability/access-log.js';
import { createLogger, flushLogger, type Logger } from './observability/logger.js';
import { Metrics } from './observability/metrics.js';
import { RouteTable } from './routing/route-table.js';
import { StateRegistry } from './state/registry.js';
import { redactPolicySource } from './config/redact.js';
import { systemClock } from './util/clock.js';

export interface SidecarOptions {
  readonly configFile: string;
  /** Watch the policy file and reload on change (default true). */
  readonly watch?: boolean;
  readonly logger?: Logger;
  /** Where access-log lines go, each as it is written (tests capture them); default stdout, batched. */
  readonly accessLog?: LineDestination;
  /** Overrides of the listeners' limits against hostile clients (tests, embedders); see LISTENER_LIMITS. */
  readonly listenerLimits?: Partial<ListenerLimits>;
}

export type ReloadOutcome =
  | { readonly result: 'applied' }
  | { readonly result: 'unchanged' }
  | { readonly result: 'rejected'; readonly issues: readonly string[] };

/** Waits this long after a file event, so an editor's or kubelet's burst of writes reloads once. */
const RELOAD_DEBOUNCE_MS = 100;

export class PolicyLoadError extends Error {
  readonly issues: readonly PolicyIssue[];
  constructor(issues: readonly PolicyIssue[]) {
    super(issues.map(formatIssue).join('\n'));
    this.name = 'PolicyLoadError';
    this.issues = issues;
  }
}

export class Sidecar {
  readonly file: string;
  readonly metrics = new Metrics();
  readonly log: Logger;
  readonly #accessLog: AccessLog;
  readonly #registry = new StateRegistry();
  readonly #listeners = new Map<string, Listener>();
  readonly #listenerLimits: ListenerLimits;
  #runtime: Runtime;
  #admin: AdminServer | undefined;
  #watcher: FSWatcher | undefined;
  #reloadTimer: NodeJS.Timeout | undefined;
  #reloading: Promise<ReloadOutcome> | undefined;
  #ready = false;
  #stopping: Promise<void> | undefined;

  private constructor(file: string, policy: Policy, options: SidecarOptions) {
    this.file = file;
    this.log = options.logger ?? createLogger('outrider', 2);
    this.#accessLog = options.accessLog === undefined ? stdoutAccessLog() : new JsonAccessLog(options.accessLog);
    this.#listenerLimits = { ...LISTENER_LIMITS, ...options.listenerLimits };
    this.#runtime = this.#build(policy);
  }

  /** Load the policy, open the admin server and every listener; resolves once ready. */
  static async start(options: SidecarOptions): Promise<Sidecar> {
    const file = resolvePath(options.configFile);
    const loaded = await loadPolicyFile(file);
    if (!loaded.ok) throw new PolicyLoadError(loaded.issues);
    const sidecar = new Sidecar(file, loaded.policy, options);
    try {
      await sidecar.#open(options.watch ?? true);
    } catch (err) {
      await sidecar.shutdown();
      throw err;
    }
    return sidecar;
  }

  get policy(): Policy {
    return this.#runtime.policy;
  }

  isReady(): boolean {
    return this.#ready;
  }

  listenerPort(name: string): number {
    const listener = this.#listeners.get(name);
    if (listener === undefined) throw new Error(`no listener named ${name}`);
    return listener.port();
  }

  adminPort(): number {
    return this.#admin?.port() ?? 0;
  }

  /** Re-read the policy file; apply it if valid and changed, else keep the running one. */
  reload(): Promise<ReloadOutcome> {
    // One reload at a time; a burst of file events waits for the one in progress.
    const previous = this.#reloading ?? Promise.resolve<ReloadOutcome>({ result: 'unchanged' });
    const next = previous.then(() => this.#reloadNow());
    this.#reloading = next;
    return next;
  }

  /** Not ready, stop accepting, let in-flight requests finish within drainTimeout, close. */
  shutdown(): Promise<void> {
    this.#stopping ??= this.#shutdownNow();
    return this.#stopping;
  }

  async #open(watchFile: boolean): Promise<void> {
    await this.#startUpstreams(this.#runtime);
    const adminAddress = this.#runtime.policy.admin.address;
    this.#admin = new AdminServer(adminAddress, this.#adminView(), this.metrics);
    await this.#admin.start();
    if (!isLoopback(adminAddress.host)) {
      this.log.warn(
        { admin: `${adminAddress.host}:${this.#admin.port()}` },
        'the admin server listens beyond loopback: /config, /status and /metrics are readable by anyone who can reach it; restrict it with a NetworkPolicy or firewall',
      );
    }
    await this.#applyListeners(this.#runtime);
    if (watchFile) this.#watch();
    this.metrics.policyInfo.labels(this.#runtime.hash).set(1);
    this.#ready = true;
    this.log.info({ file: this.file, listeners: [...this.#listeners.keys()], admin: this.adminPort() }, 'outrider ready');
  }

  #build(policy: Policy): Runtime {
    const ownAddresses = (): HostPort[] => this.#ownAddresses();
    return buildRuntime(policy, { registry: this.#registry, metrics: this.metrics, log: this.log, accessLog: this.#accessLog, clock: systemClock, ownAddresses });
  }

  async #startUpstreams(runtime: Runtime): Promise<void> {
    const onResolveError = (upstream: string, err: Error): void =>
      this.log.warn({ upstream, err: err.message }, 'DNS resolution failed; keeping the last addresses');
    // Once per outage, and once when it ends (the retries in between are in /status).
    const onDiscoveryError = (upstream: string, err: Error): void =>
      this.log.warn({ upstream, err: err.message }, 'Kubernetes endpoint discovery failed; keeping the last endpoints and retrying');
    const onDiscoveryRecovered = (upstream: string, endpoints: number): void =>
      this.log.info({ upstream, endpoints }, 'Kubernetes endpoint discovery recovered');
    await Promise.all([...runtime.upstreams.values()].map((u) => u.start({ onResolveError, onDiscoveryError, onDiscoveryRecovered })));
  }

  #routesFor(runtime: Runtime, listener: string): ListenerRoutes {
    const unrouted = runtime.policy.listeners.find((l) => l.name === listener)?.unrouted;
    const noRoute = unrouted === 'passthrough' ? runtime.passthrough : undefined;
    return { table: new RouteTable(runtime.routes, listener), ...runtime.fallbacks, noRoute: noRoute ?? runtime.fallbacks.noRoute };
  }

  /** Where this sidecar accepts connections: what passthrough must never send a request back to. */
  #ownAddresses(): HostPort[] {
    const listeners = [...this.#listeners.values()].map((l) => ({ host: l.policy.address.host, port: l.port() }));
    const admin = this.#admin === undefined ? [] : [{ host: this.#runtime.policy.admin.address.host, port: this.#admin.port() }];
    return [...listeners, ...admin];
  }

  /** Open new listeners, rebind moved ones, close removed ones, swap every route table. */
  async #applyListeners(runtime: Runtime): Promise<void> {
    const wanted = runtime.policy.listeners;
    const staying = wanted.flatMap((policy) => {
      const current = this.#listeners.get(policy.name);
      return current !== undefined && sameAddress(current.policy.address, policy.address) ? [[current, policy] as const] : [];
    });
    // Checked before anything changes, so a refused reload leaves every listener as it was.
    for (const [current, policy] of staying) {
      const problem = current.reconfigureProblem(policy);
      if (problem !== undefined) throw new Error(problem);
    }
    const opened: Listener[] = [];
    try {
      for (const policy of wanted) {
        const current = this.#listeners.get(policy.name);
        if (current !== undefined && sameAddress(current.policy.address, policy.address)) continue;
        const listener = new Listener(policy, this.#routesFor(runtime, policy.name), this.#listenerHooks(), this.#listenerLimits);
        await listener.start();
        opened.push(listener);
      }
    } catch (err) {
      await Promise.all(opened.map((l) => l.drain(0)));
      throw err;
    }
    const retired: Listener[] = [];
    for (const listener of opened) {
      const previous = this.#listeners.get(listener.name);
      if (previous !== undefined) retired.push(previous);
      this.#listeners.set(listener.name, listener);
    }
    for (const [current, policy] of staying) current.reconfigure(policy);
    for (const [name, listener] of this.#listeners) {
      if (!wanted.some((l) => l.name === name)) {
        retired.push(listener);
        this.#listeners.delete(name);
      } else {
        listener.setRoutes(this.#routesFor(runtime, name));
      }
    }
    // Retired listeners finish their requests in the background; the new ones already serve.
    for (const listener of retired) void listener.drain(runtime.policy.drainTimeoutMs);
  }

  #listenerHooks() {
    return {
      onInFlightChange: (listener: string, delta: 1 | -1) => this.metrics.inFlightOf(listener).inc(delta),
      onInternalError: (listener: string, err: unknown) => this.log.error({ listener, err }, 'internal error while answering a request'),
      onClientError: (listener: string, code: string) => this.metrics.clientErrors.labels(listener, code).inc(),
      onConnectionDropped: (listener: string) => this.metrics.connectionsDropped.labels(listener).inc(),
      onTlsRotated: (listener: string, status: unknown, error?: string) => {
        if (error === undefined) this.log.info({ listener, tls: status }, 'TLS certificate rotated; new connections use it');
        else this.log.error({ listener, err: error }, 'TLS files changed but cannot be used; the previous certificate stays');
      },
      onTunnel: (listener: string, kind: TunnelKind, delta: 1 | -1) => this.metrics.tunnelsActive.labels(listener, kind).inc(delta),
      onTunnelBytes: (listener: string, kind: TunnelKind, bytes: TunnelBytes) => {
        this.metrics.tunnelBytes.labels(listener, kind, 'upstream').inc(bytes.sent);
        this.metrics.tunnelBytes.labels(listener, kind, 'downstream').inc(bytes.received);
      },
    };
  }

  async #reloadNow(): Promise<ReloadOutcome> {
    if (this.#stopping !== undefined) return { result: 'unchanged' };
    const loaded = await loadPolicyFile(this.file);
    if (!loaded.ok) return this.#rejectReload(loaded.issues.map(formatIssue));
    const hash = policyHash(loaded.policy);
    if (hash === this.#runtime.hash) return { result: 'unchanged' };
    const keep = this.#registry.keys();
    let next: Runtime;
    try {
      next = this.#build(loaded.policy);
      await this.#startUpstreams(next);
      await this.#applyListeners(next);
    } catch (err) {
      await this.#registry.abandonBuild(keep);
      return this.#rejectReload([`${this.file}: ${(err as Error).message}`]);
    }
    const previous = this.#runtime;
    this.#runtime = next;
    this.metrics.policyInfo.reset();
    this.metrics.policyInfo.labels(next.hash).set(1);
    this.metrics.reloads.labels('applied').inc();
    // Pools of changed upstreams close once their in-flight requests are done (undici's close).
    void this.#registry.sweep();
    this.log.info({ file: this.file, from: previous.hash, to: next.hash }, 'policy reloaded');
    return { result: 'applied' };
  }

  #rejectReload(issues: string[]): ReloadOutcome {
    this.metrics.reloads.labels('rejected').inc();
    this.log.error({ file: this.file, issues }, 'policy reload rejected; the running policy stays');
    return { result: 'rejected', issues };
  }

  #watch(): void {
    this.#watcher = watchPolicyFile(this.file, () => {
      clearTimeout(this.#reloadTimer);
      this.#reloadTimer = setTimeout(() => void this.reload(), RELOAD_DEBOUNCE_MS);
    });
    this.#watcher.on('error', (err) => this.log.error({ err: err.message }, 'policy watcher failed; reload on SIGHUP only'));
  }

  async #shutdownNow(): Promise<void> {
    this.#ready = false;
    this.#watcher?.close();
    clearTimeout(this.#reloadTimer);
    const drainMs = this.#runtime.policy.drainTimeoutMs;
    const inFlight = [...this.#listeners.values()].reduce((n, l) => n + l.inFlight, 0);
    this.log.info({ drainTimeoutMs: drainMs, inFlight }, 'draining');
    await Promise.all([...this.#listeners.values()].map((l) => l.drain(drainMs)));
    this.#listeners.clear();
    await this.#admin?.close();
    await this.#registry.disposeAll();
    this.log.info('stopped');
    this.#accessLog.flushSync?.();
    flushLogger(this.log);
  }

  #adminView() {
    return {
      isReady: () => this.#ready,
      config: () => redactPolicySource(this.#runtime.policy.source),
      status: () => statusView(this.#runtime, this.file, this.#ready, [...this.#listeners.values()]),
    };
  }
}

/** 127.0.0.0/8, ::1 and localhost: the admin's default; anything else is warned about. */
export function isLoopback(host: string): boolean {
  const bare = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  if (bare === 'localhost' || bare === '::1') return true;
  if (isIP(bare) === 4) return bare.startsWith('127.');
  if (bare.toLowerCase().startsWith('::ffff:')) return bare.slice(7).startsWith('127.');
  return false;
}

function sameAddress(a: { host: string; port: number }, b: { host: string; port: number }): boolean {
  return a.host === b.host && a.port === b.port;
}
