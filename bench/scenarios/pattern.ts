/**
 * What the pattern scenarios (hedge, breaker, bulkhead, shadow, scatter) share: a policy with one
 * route per configuration under comparison, served by one Outrider process (so every
 * configuration is measured by the same process, interleaved), simulated upstreams, and the
 * check that the pattern's layer is really in the route's pipeline per `/status`. A pattern
 * that has not landed is skipped, never faked.
 */
import { stringify } from 'yaml';
import type { LoadResult, StreamResult, StreamSpec } from '../loadgen/protocol.js';
import { startOutrider, type RunningOutrider } from '../lib/outrider.js';
import { freePorts } from '../lib/ports.js';
import { CONNECTIONS } from '../lib/profile.js';
import { fmt } from '../lib/stats.js';
import type { Behaviour } from '../upstreams/behaviour.js';
import { Simulator } from '../upstreams/index.js';
import type { Check, ScenarioContext } from './types.js';

export interface RouteSpec {
  readonly name: string;
  /** Routes match on a path prefix; the generator sends to this path. */
  readonly path: string;
  readonly upstream?: string;
  /** Per-route policy keys as the contract spells them (retry, hedge, circuitBreaker, ...). */
  readonly policy?: Readonly<Record<string, unknown>>;
}

export interface PolicyInput {
  readonly adminPort: number;
  readonly listenPort: number;
  /** Upstream name → simulated endpoint names. */
  readonly upstreams: Readonly<Record<string, readonly string[]>>;
  readonly routes: readonly RouteSpec[];
}

/** The policy YAML (contract version 1) for a scenario, endpoints resolved to simulator ports. */
export function policyYaml(input: PolicyInput, sim: Simulator): string {
  const upstreams: Record<string, unknown> = {};
  for (const [name, endpoints] of Object.entries(input.upstreams)) {
    upstreams[name] = { endpoints: endpoints.map((e) => `http://127.0.0.1:${sim.port(e)}`), connections: 64 };
  }
  return stringify({
    version: 1,
    admin: { address: `127.0.0.1:${input.adminPort}` },
    accessLog: 'off',
    listeners: [{ name: 'outbound', address: `127.0.0.1:${input.listenPort}` }],
    upstreams,
    routes: input.routes.map((r) => ({
      name: r.name,
      match: { pathPrefix: r.path },
      ...(r.upstream ? { upstream: r.upstream } : {}),
      ...(r.policy ?? {}),
    })),
  });
}

export interface PatternSetup {
  readonly sim: Simulator;
  readonly outrider: RunningOutrider;
  readonly port: number;
  /** Routes whose optional layers are missing, with the reason (dropped from the comparison). */
  readonly dropped: ReadonlyMap<string, string>;
  /** Throws when Outrider has exited under load: the scenario then fails, saying so. */
  assertAlive(): void;
  close(): Promise<void>;
}

export interface PatternRequest {
  readonly scenario: string;
  readonly endpoints: readonly { readonly name: string; readonly behaviour: Behaviour }[];
  readonly upstreams: Readonly<Record<string, readonly string[]>>;
  readonly routes: readonly RouteSpec[];
  /** The layer the scenario is about: missing on any route that should have it means skip. */
  readonly layer: string;
  /** Route name → the layer it must have; a route missing a layer other than `layer` is dropped. */
  readonly needs: Readonly<Record<string, string>>;
  readonly seed: number;
}

/** Starts simulator + Outrider; returns a skip reason instead when the pattern is not there. */
export async function setUpPattern(ctx: ScenarioContext, req: PatternRequest): Promise<PatternSetup | { skip: string }> {
  const ports = await freePorts(req.endpoints.length + 2);
  const [adminPort, listenPort] = ports as [number, number];
  const sim = await Simulator.start(
    req.endpoints.map((e, i) => ({ name: e.name, port: ports[i + 2] as number, seed: req.seed + i, behaviour: e.behaviour })),
  );
  const yaml = policyYaml({ adminPort, listenPort, upstreams: req.upstreams, routes: req.routes }, sim);
  const outrider = await startOutrider(`outrider-${req.scenario}`, yaml, adminPort);
  if (!outrider.ok) {
    await sim.close();
    return { skip: outrider.reason };
  }
  const close = async (): Promise<void> => {
    const code = await outrider.stop();
    if (code !== 0) ctx.log(`  note: Outrider exited with ${code} on SIGTERM (the contract says 0)`);
    await sim.close();
  };
  const dropped = new Map<string, string>();
  for (const [route, layer] of Object.entries(req.needs)) {
    const layers = await outrider.layers(route);
    if (layers === undefined) {
      await close();
      return { skip: `GET /status does not list the layers of route "${route}"` };
    }
    if (layers.includes(layer)) continue;
    // In --smoke every layer must be there: a missing one is Outrider failing, not a pattern
    // still to land, and the skip fails the smoke run.
    if (layer === req.layer || ctx.profile.name === 'smoke') {
      await close();
      return { skip: `route "${route}": the ${layer} layer is not in GET /status (has it landed?)` };
    }
    dropped.set(route, `the ${layer} layer has not landed yet`);
    ctx.log(`  ${route}: skipped (the ${layer} layer has not landed yet)`);
  }
  await warmUp(ctx, listenPort, req.routes.filter((r) => !dropped.has(r.name)));
  await sim.stats(true);
  const assertAlive = (): void => {
    const died = outrider.died();
    if (died) throw new Error(died);
  };
  return { sim, outrider, port: listenPort, dropped, assertAlive, close };
}

/**
 * Closed-loop load through every route before measuring: a fresh Node process runs its first
 * seconds at a fraction of its speed (design/performance.md), and adaptive policies (hedge p95)
 * need some history. Few connections per route, so slow upstreams are not overrun.
 */
async function warmUp(ctx: ScenarioContext, port: number, routes: readonly RouteSpec[]): Promise<void> {
  await ctx.loadgen.run({
    label: 'warm-up',
    host: '127.0.0.1',
    port,
    warmupMs: 0,
    durationMs: ctx.profile.processWarmupMs,
    timeoutMs: 5000,
    streams: routes.map((r) => ({ name: r.name, path: r.path, mode: { kind: 'max' } as const, connections: 4, maxRequests: 1_000_000 })),
  });
}

export function stream(name: string, path: string, rps: number, durationMs: number, headers?: Record<string, string>): StreamSpec {
  return {
    name,
    path,
    mode: { kind: 'rate', rps },
    connections: CONNECTIONS,
    maxRequests: Math.ceil((rps * (durationMs + 5000)) / 1000),
    ...(headers ? { headers } : {}),
  };
}

export function only(result: LoadResult, name?: string): StreamResult {
  const s = name ? result.streams.find((x) => x.name === name) : result.streams[0];
  if (!s) throw new Error(`no stream ${name ?? ''} in ${result.label}`);
  return s;
}

/** Non-2xx and transport failures, as "503:circuit-open 12, reset 3". */
export function failures(s: StreamResult): string {
  const parts = Object.entries(s.outcomes)
    .filter(([k]) => k !== '2xx')
    .map(([k, v]) => `${k} ${v}`);
  return parts.length > 0 ? parts.join(', ') : 'none';
}

/** Percentile (0-100) of a list of numbers, nearest rank. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] as number;
}

/**
 * The order of configurations in a pass: rotated every pass, and never the baseline (listed
 * first) first. The run right after warm-up is the noisiest, and that noise should count
 * against the pattern, not flatter it.
 */
export function passOrder<T>(items: readonly T[], pass: number): T[] {
  const k = (pass + 1) % items.length;
  return [...items.slice(k), ...items.slice(0, k)];
}

/** Share of a stream's requests that did not get a 2xx. */
export function failureRatio(s: StreamResult | undefined): number {
  if (!s) return NaN;
  let total = 0;
  let failed = 0;
  for (const [kind, count] of Object.entries(s.outcomes)) {
    total += count;
    if (kind !== '2xx') failed += count;
  }
  return total === 0 ? NaN : failed / total;
}

/**
 * A latency figure means nothing when the requests behind it failed: above 1% failures the
 * check fails and says why, whatever the latency.
 */
export function guardFailures(check: Check, streams: readonly (StreamResult | undefined)[]): Check {
  const worst = Math.max(...streams.map(failureRatio).filter((r) => Number.isFinite(r)), 0);
  if (worst <= 0.01) return check;
  return { ...check, value: `${check.value} with ${(worst * 100).toFixed(1)}% of requests failing`, pass: false };
}

/**
 * Outrider answered the requests of these streams: at least one, and at most 1% not 2xx (the
 * allowance guardFailures gives latency figures). Functional, so a route that only fails
 * fails --smoke even though no latency is asserted there.
 */
export function answeredCheck(what: string, streams: readonly (StreamResult | undefined)[]): Check {
  let total = 0;
  let failed = 0;
  for (const s of streams) {
    for (const [kind, count] of Object.entries(s?.outcomes ?? {})) {
      total += count;
      if (kind !== '2xx') failed += count;
    }
  }
  const value = total === 0 ? 'no requests' : `${total - failed} of ${total} (${fmt((100 * (total - failed)) / total, 1)}%)`;
  return { name: `${what}: requests answered 2xx`, target: '≥ 99%', value, pass: total > 0 && failed <= 0.01 * total, source: 'ours', functional: true };
}
