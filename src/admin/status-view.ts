/**
 * What /status shows: readiness, the running policy, each listener, each route with its active
 * layers and their live state, each upstream's endpoints (and their Kubernetes discovery),
 * HTTP/2 connections and streams both sides. Read-only.
 */
import type { Listener } from '../http/listener.js';
import type { Runtime } from '../sidecar/runtime.js';
import { systemClock } from '../util/clock.js';

export function statusView(runtime: Runtime, file: string, ready: boolean, listeners: readonly Listener[]): unknown {
  return {
    ready,
    policy: { file, hash: runtime.hash, loadedAt: runtime.loadedAt },
    listeners: listeners.map((l) => ({
      name: l.name,
      address: `${l.policy.address.host}:${l.port()}`,
      inFlight: l.inFlight,
      tunnels: l.tunnels,
      protocols: l.policy.protocols,
      ...(l.h2Status() === undefined ? {} : { h2: l.h2Status() }),
      ...(l.tlsStatus() === undefined ? {} : { tls: l.tlsStatus() }),
    })),
    routes: runtime.routes.map((r) => ({
      name: r.name,
      listener: r.policy.listener ?? null,
      upstream: r.policy.upstream ?? null,
      timeoutMs: r.policy.timeoutMs,
      layers: r.layers,
      ...r.status(),
    })),
    upstreams: [...runtime.upstreams.values()].map((u) => ({
      name: u.name,
      balance: u.policy.balance,
      protocol: u.policy.protocol,
      endpoints: u.endpoints.map((e) => ({
        origin: e.origin,
        inFlight: e.inFlight,
        // Open connections, and on HTTP/2 the streams they carry now (undici's pool counters).
        connections: e.pool.stats.connected,
        ...(u.policy.protocol === 'http1' ? {} : { streams: e.pool.stats.running }),
        available: e.available,
        ...(e.available ? {} : { ejectedForMs: Math.max(0, Math.round(e.ejectedUntil - systemClock.now())) }),
      })),
      // Where discovered endpoints come from, and whether that is working (docs/kubernetes.md).
      ...(u.discoveryStatus() === undefined ? {} : { discovery: u.discoveryStatus() }),
    })),
  };
}
