/**
 * What /status shows: readiness, the running policy, each listener, each route with its active
 * layers and their live state, each upstream's endpoints. Read-only.
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
      endpoints: u.endpoints.map((e) => ({
        origin: e.origin,
        inFlight: e.inFlight,
        available: e.available,
        ...(e.available ? {} : { ejectedForMs: Math.max(0, Math.round(e.ejectedUntil - systemClock.now())) }),
      })),
    })),
  };
}
