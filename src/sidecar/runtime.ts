/**
 * One policy made runnable: its upstreams (kept in the state registry, so an unchanged
 * upstream keeps its warm pools across a reload), every route's pipeline, and the fallbacks for
 * requests no route takes. The sidecar builds one at start and one per reload, and swaps it in.
 */
import { createHash } from 'node:crypto';
import type { HostPort, Policy } from '../config/types.js';
import type { ListenerRoutes } from '../http/listener.js';
import type { AccessLog } from '../observability/access-log.js';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import { buildFallbacks, buildRoute, type RouteRuntime } from '../pipeline/build.js';
import { stateKey, type StateRegistry } from '../state/registry.js';
import { UpstreamRuntime, upstreamSettings } from '../upstream/upstream.js';
import type { Clock } from '../util/clock.js';
import type { Handler } from '../pipeline/layer.js';
import { PassthroughOrigins } from './passthrough-origins.js';
import { passthroughHandler } from './passthrough.js';

export interface Runtime {
  readonly policy: Policy;
  readonly hash: string;
  readonly loadedAt: string;
  readonly routes: readonly RouteRuntime[];
  readonly upstreams: ReadonlyMap<string, UpstreamRuntime>;
  readonly fallbacks: Pick<ListenerRoutes, 'noRoute' | 'badRequest'>;
  /** For listeners with `unrouted: passthrough`; undefined when none has it. */
  readonly passthrough: Handler | undefined;
}

export interface RuntimeDeps {
  readonly registry: StateRegistry;
  readonly metrics: Metrics;
  readonly log: Logger;
  readonly accessLog: AccessLog;
  readonly clock: Clock;
  /** The sidecar's bound addresses, which passthrough must never send to (read per request). */
  readonly ownAddresses: () => readonly HostPort[];
}

/** The policy's identity: what /status and the policy-info metric show, and what a reload compares. */
export function policyHash(policy: Policy): string {
  return createHash('sha256').update(JSON.stringify(policy.source)).digest('hex').slice(0, 16);
}

export function buildRuntime(policy: Policy, deps: RuntimeDeps): Runtime {
  const { registry, metrics, log } = deps;
  registry.beginBuild();
  const upstreams = new Map<string, UpstreamRuntime>();
  for (const upstream of policy.upstreams.values()) {
    const runtime = registry.acquire(
      stateKey('upstream', upstreamSettings(upstream)),
      () =>
        new UpstreamRuntime(
          upstream,
          {
            onEject: (name, origin, forMs) => {
              metrics.outlierEjections.labels(name).inc();
              log.warn({ upstream: name, endpoint: origin, forMs }, 'endpoint ejected as an outlier');
            },
          },
          { clock: deps.clock },
        ),
      (u) => u.close(),
    );
    upstreams.set(upstream.name, runtime);
  }
  const buildDeps = {
    clock: deps.clock,
    metrics,
    log,
    accessLog: policy.accessLog === 'off' ? undefined : deps.accessLog,
    registry,
    upstreams,
    policy,
  };
  return {
    policy,
    hash: policyHash(policy),
    loadedAt: new Date().toISOString(),
    routes: policy.routes.map((route) => buildRoute(route, buildDeps)),
    upstreams,
    fallbacks: buildFallbacks(buildDeps),
    passthrough: buildPassthrough(policy, deps, buildDeps.accessLog),
  };
}

/** The origins' pools outlive a reload like any upstream's (one cache per sidecar, while some listener passes through). */
function buildPassthrough(policy: Policy, deps: RuntimeDeps, accessLog: AccessLog | undefined): Handler | undefined {
  if (!policy.listeners.some((l) => l.unrouted === 'passthrough')) return undefined;
  const origins = deps.registry.acquire(stateKey('passthrough'), () => new PassthroughOrigins(deps.clock), (o) => o.close());
  return passthroughHandler({ policy, metrics: deps.metrics, accessLog, clock: deps.clock, origins, ownAddresses: deps.ownAddresses });
}
