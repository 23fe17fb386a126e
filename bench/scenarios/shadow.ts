/**
 * shadow: mirroring must never slow the primary. Four routes on one Outrider, all to the same
 * primary upstream, interleaved per pass: no shadow; every request mirrored to a healthy
 * shadow, to a shadow ten times slower, and to a dead shadow (connections refused). The figure
 * is the primary's p99 with each shadow against its p99 with none, paired per pass.
 */
import { spectrum } from '../loadgen/histogram.js';
import type { StreamResult } from '../loadgen/protocol.js';
import { fmt, median } from '../lib/stats.js';
import type { Behaviour } from '../upstreams/behaviour.js';
import { answeredCheck, failures, guardFailures, only, passOrder, setUpPattern, stream, type PatternSetup, type RouteSpec } from './pattern.js';
import { skipped, type Check, type Scenario, type ScenarioContext, type ScenarioOutcome } from './types.js';

const PRIMARY: Behaviour = { latency: { kind: 'lognormal', medianMs: 2, sigma: 0.2 } };
const SLOW: Behaviour = { latency: { kind: 'lognormal', medianMs: 20, sigma: 0.2 } };
const DEAD: Behaviour = { ...PRIMARY, refuse: true };
const RATE = 500;

const ROUTES: readonly RouteSpec[] = [
  { name: 'no-shadow', path: '/none', upstream: 'primary' },
  { name: 'healthy-shadow', path: '/healthy', upstream: 'primary', policy: { shadow: { upstream: 'shadow-healthy', percent: 100 } } },
  { name: 'slow-shadow', path: '/slow', upstream: 'primary', policy: { shadow: { upstream: 'shadow-slow', percent: 100 } } },
  { name: 'dead-shadow', path: '/dead', upstream: 'primary', policy: { shadow: { upstream: 'shadow-dead', percent: 100 } } },
];

/** The shadow upstream each route mirrors to. */
const SHADOW_OF: Readonly<Record<string, string>> = { 'healthy-shadow': 'shadow-healthy', 'slow-shadow': 'shadow-slow', 'dead-shadow': 'shadow-dead' };

interface Run {
  readonly route: string;
  readonly pass: number;
  readonly stream: StreamResult;
  /** Copies the route's shadow upstream received during the run (none can reach the dead one). */
  readonly received: number;
  /** Copies Outrider counted for the route (outrider_shadow_requests_total: sent, dropped, failed). */
  readonly attempted: number;
}

/** Sum of outrider_shadow_requests_total over results for one route. */
async function shadowCount(setup: PatternSetup, route: string): Promise<number> {
  let total = 0;
  for (const m of (await setup.outrider.metrics()).matchAll(/^outrider_shadow_requests_total\{([^}]*)\} (\S+)$/gm)) {
    if ((m[1] ?? '').includes(`route="${route}"`)) total += Number(m[2]);
  }
  return total;
}

async function measure(ctx: ScenarioContext, setup: PatternSetup, route: RouteSpec, pass: number): Promise<Run> {
  const { patternDurationMs, warmupMs } = ctx.profile;
  const duration = patternDurationMs;
  await setup.sim.stats(true);
  const countedBefore = await shadowCount(setup, route.name);
  const result = await ctx.loadgen.run({
    label: `shadow ${route.name}`,
    host: '127.0.0.1',
    port: setup.port,
    warmupMs,
    durationMs: duration,
    timeoutMs: 10_000,
    streams: [stream(route.name, route.path, RATE, warmupMs + duration)],
  });
  const stats = await setup.sim.stats(true);
  const shadowName = SHADOW_OF[route.name];
  const received = shadowName ? (stats[shadowName]?.received ?? 0) : 0;
  return { route: route.name, pass, stream: only(result), received, attempted: (await shadowCount(setup, route.name)) - countedBefore };
}

export const shadow: Scenario = {
  name: 'shadow',
  title: 'Shadow traffic: primary latency with healthy, slow and dead shadows',
  async run(ctx) {
    const setup = await setUpPattern(ctx, {
      scenario: 'shadow',
      endpoints: [
        { name: 'primary', behaviour: PRIMARY },
        { name: 'shadow-healthy', behaviour: PRIMARY },
        { name: 'shadow-slow', behaviour: SLOW },
        { name: 'shadow-dead', behaviour: DEAD },
      ],
      upstreams: { primary: ['primary'], 'shadow-healthy': ['shadow-healthy'], 'shadow-slow': ['shadow-slow'], 'shadow-dead': ['shadow-dead'] },
      routes: ROUTES,
      layer: 'shadow',
      needs: { 'healthy-shadow': 'shadow', 'slow-shadow': 'shadow', 'dead-shadow': 'shadow' },
      seed: 4000,
    });
    if ('skip' in setup) return skipped(setup.skip);
    try {
      const runs: Run[] = [];
      for (let pass = 0; pass < ctx.profile.passes; pass++) {
        for (const route of passOrder(ROUTES, pass)) {
          runs.push(await measure(ctx, setup, route, pass));
          setup.assertAlive();
        }
      }
      return report(runs);
    } finally {
      await setup.close();
    }
  },
};

function report(runs: readonly Run[]): ScenarioOutcome {
  const of = (route: string): Run[] => runs.filter((r) => r.route === route);
  const ratio = (route: string): number =>
    median(
      of(route).flatMap((r) => {
        const base = runs.find((b) => b.route === 'no-shadow' && b.pass === r.pass);
        return base && base.stream.latency.p99 > 0 ? [r.stream.latency.p99 / base.stream.latency.p99] : [];
      }),
    );
  const rows = ROUTES.map(({ name }) => {
    const rs = of(name);
    const med = (pick: (r: Run) => number): number => median(rs.map(pick));
    return [
      name,
      fmt(med((r) => r.stream.latency.p50)),
      fmt(med((r) => r.stream.latency.p99)),
      name === 'no-shadow' ? '' : `${fmt(ratio(name), 3)}x`,
      name === 'no-shadow' ? '' : fmt(med((r) => r.attempted), 0),
      name === 'no-shadow' || name === 'dead-shadow' ? '' : fmt(med((r) => r.received), 0),
      failures(rs[0]?.stream as StreamResult),
    ];
  });
  const checks: Check[] = ROUTES.filter((r) => r.name !== 'no-shadow').flatMap(({ name }) => {
    // A shadow that mirrored nothing cannot slow the primary: its ratio would pass vacuously.
    // The dead shadow refuses connections, so for it Outrider's own count of copies stands in.
    const dead = name === 'dead-shadow';
    const counts = of(name).map((x) => (dead ? x.attempted : x.received));
    const copies = counts.length > 0 ? Math.min(...counts) : 0;
    const mirrored: Check = {
      name: dead ? `${name}: copies Outrider tried to send (outrider_shadow_requests_total)` : `${name}: copies the shadow upstream received`,
      target: '> 0 in every run',
      value: fmt(copies, 0),
      pass: copies > 0,
      source: 'ours',
      functional: true,
    };
    const r = ratio(name);
    const check: Check = {
      name: `primary p99 with ${name} ÷ without`,
      target: '≤ 1.05',
      value: copies > 0 ? `${fmt(r, 3)}x` : `${fmt(r, 3)}x, inconclusive: nothing was mirrored`,
      pass: copies > 0 && Number.isFinite(r) ? r <= 1.05 : null,
      source: 'ours',
    };
    return [mirrored, guardFailures(check, [...of(name), ...of('no-shadow')].map((x) => x.stream))];
  });
  checks.push(answeredCheck('primary, with and without shadows', runs.map((x) => x.stream)));
  return {
    status: 'ok',
    tables: [
      {
        title: `Primary latency at ${RATE} req/s, every request mirrored (ms, median of passes)`,
        columns: ['route', 'p50', 'p99', 'p99 ÷ no shadow', 'copies Outrider counted', 'copies the shadow received', 'primary failures'],
        rows,
        note: 'Shadows: healthy (same as primary), slow (10x: ~20 ms), dead (connections refused).',
      },
    ],
    charts: [
      {
        kind: 'spectrum',
        title: `Primary latency spectrum at ${RATE} req/s (last pass)`,
        series: ROUTES.map(({ name }) => ({ label: name, points: spectrum(of(name).at(-1)?.stream.histogram ?? '') })),
      },
    ],
    checks,
    data: { rate: RATE, runs: runs.map((r) => ({ ...r, stream: { ...r.stream, histogram: undefined } })) },
  };
}
