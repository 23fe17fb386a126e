/**
 * hedge: what hedging buys against a tail-heavy upstream (2% of requests 100-200 ms slower), and
 * what it costs in extra upstream requests. Four routes on one Outrider, same upstream (two
 * endpoints, so a hedge can go elsewhere): no policy, retry only (a per-try timeout cuts the slow
 * try), hedge after a fixed delay, hedge after the route's own p95. Interleaved passes.
 */
import { spectrum } from '../loadgen/histogram.js';
import type { StreamResult } from '../loadgen/protocol.js';
import { fmt, median, round } from '../lib/stats.js';
import type { Behaviour } from '../upstreams/behaviour.js';
import { answeredCheck, failures, guardFailures, only, passOrder, setUpPattern, stream, type PatternSetup, type RouteSpec } from './pattern.js';
import { skipped, type Check, type Scenario, type ScenarioContext, type ScenarioOutcome } from './types.js';

const TAIL = { ratio: 0.02, minMs: 100, maxMs: 200 };
/** ~2 ms typical, 2% of requests +100-200 ms. */
const TAIL_HEAVY: Behaviour = { latency: { kind: 'lognormal', medianMs: 2, sigma: 0.25 }, tail: TAIL };
const RATE = 400;

const ROUTES: readonly RouteSpec[] = [
  { name: 'none', path: '/none', upstream: 'app' },
  {
    name: 'retry',
    path: '/retry',
    upstream: 'app',
    policy: { retry: { attempts: 2, perTryTimeout: '25ms', on: ['timeout', 'reset', 'connect-failure', 503], budget: { ratio: 0.1, minPerSecond: 10 } } },
  },
  { name: 'hedge-fixed', path: '/hedge-fixed', upstream: 'app', policy: { hedge: { delay: '10ms', maxAttempts: 2, budget: { ratio: 0.1 } } } },
  { name: 'hedge-p95', path: '/hedge-p95', upstream: 'app', policy: { hedge: { delay: 'p95', minDelay: '2ms', maxAttempts: 2, budget: { ratio: 0.1 } } } },
];

interface Run {
  readonly route: string;
  readonly pass: number;
  readonly stream: StreamResult;
  /** Upstream requests received per completed client request, minus one. */
  readonly extraLoad: number;
}

async function measure(ctx: ScenarioContext, setup: PatternSetup, route: RouteSpec, pass: number): Promise<Run> {
  const { patternDurationMs, warmupMs } = ctx.profile;
  const duration = patternDurationMs;
  const result = await ctx.loadgen.run({
    label: `hedge ${route.name}`,
    host: '127.0.0.1',
    port: setup.port,
    warmupMs,
    durationMs: duration,
    timeoutMs: 10_000,
    streams: [stream(route.name, route.path, RATE, warmupMs + duration)],
  });
  const s = only(result);
  // Warm-up requests reach the upstream too: compare against everything the client sent.
  const stats = await setup.sim.stats(true);
  const received = (stats.a?.received ?? 0) + (stats.b?.received ?? 0);
  const clientTotal = s.completed * ((warmupMs + duration) / duration);
  return { route: route.name, pass, stream: s, extraLoad: clientTotal > 0 ? received / clientTotal - 1 : NaN };
}

export const hedge: Scenario = {
  name: 'hedge',
  title: 'Hedging against a tail-heavy upstream (2% +100-200 ms)',
  async run(ctx) {
    const setup = await setUpPattern(ctx, {
      scenario: 'hedge',
      endpoints: [
        { name: 'a', behaviour: TAIL_HEAVY },
        { name: 'b', behaviour: TAIL_HEAVY },
      ],
      upstreams: { app: ['a', 'b'] },
      routes: ROUTES,
      layer: 'hedge',
      needs: { 'hedge-fixed': 'hedge', 'hedge-p95': 'hedge', retry: 'retry' },
      seed: 1000,
    });
    if ('skip' in setup) return skipped(setup.skip);
    try {
      const routes = ROUTES.filter((r) => !setup.dropped.has(r.name));
      await setup.sim.stats(true);
      const runs: Run[] = [];
      for (let pass = 0; pass < ctx.profile.passes; pass++) {
        for (const route of passOrder(routes, pass)) {
          runs.push(await measure(ctx, setup, route, pass));
          setup.assertAlive();
        }
      }
      return report(routes, runs, setup.dropped);
    } finally {
      await setup.close();
    }
  },
};

function report(routes: readonly RouteSpec[], runs: readonly Run[], dropped: ReadonlyMap<string, string>): ScenarioOutcome {
  const of = (route: string): Run[] => runs.filter((r) => r.route === route);
  const med = (route: string, pick: (r: Run) => number): number => median(of(route).map(pick));
  /** Median over passes of none's percentile ÷ this route's, paired per pass. */
  const reduction = (route: string, p: 'p99' | 'p999'): number =>
    median(
      of(route).flatMap((r) => {
        const base = runs.find((b) => b.route === 'none' && b.pass === r.pass);
        return base && r.stream.latency[p] > 0 ? [base.stream.latency[p] / r.stream.latency[p]] : [];
      }),
    );
  const rows = routes.map((r) => [
    r.name,
    fmt(med(r.name, (x) => x.stream.latency.p50)),
    fmt(med(r.name, (x) => x.stream.latency.p99)),
    fmt(med(r.name, (x) => x.stream.latency.p999)),
    r.name === 'none' ? '' : `${fmt(reduction(r.name, 'p99'))}x`,
    r.name === 'none' ? '' : `${fmt(reduction(r.name, 'p999'))}x`,
    `${fmt(med(r.name, (x) => x.extraLoad * 100), 1)}%`,
    failures(of(r.name)[0]?.stream as StreamResult),
  ]);
  const hedges = routes.filter((r) => r.name.startsWith('hedge'));
  const best = hedges.map((r) => ({ name: r.name, p99: reduction(r.name, 'p99'), extra: med(r.name, (x) => x.extraLoad) }));
  // A reduction means something only if the tail showed without a policy: with no-policy p99
  // under the tail's 100 ms, hedging had nothing to cut and the ratio is noise.
  const noneP99 = med('none', (x) => x.stream.latency.p99);
  const tailShowed = noneP99 >= TAIL.minMs;
  const tailCheck: Check = { name: 'the tail shows without a policy (no-policy p99)', target: `≥ ${TAIL.minMs} ms (else the reductions are inconclusive)`, value: `${fmt(noneP99)} ms`, pass: Number.isFinite(noneP99) ? tailShowed : null, source: 'harness' };
  const reductionOf = (p99: number, atLeast: number): Pick<Check, 'value' | 'pass'> =>
    tailShowed ? { value: `${fmt(p99)}x`, pass: p99 >= atLeast } : { value: `${fmt(p99)}x, inconclusive: no tail to cut`, pass: null };
  const checks: Check[] = best.flatMap((b) => {
    const guard = (c: Check): Check => guardFailures(c, of(b.name).map((r) => r.stream));
    return [
    { name: `${b.name}: p99 reduction`, target: '≥ 2x (50% lower)', ...reductionOf(b.p99, 2), source: 'seed' as const },
    { name: `${b.name}: extra upstream load`, target: '< 100%', value: `${fmt(b.extra * 100, 1)}%`, pass: b.extra < 1, source: 'seed' as const },
    { name: `${b.name}: p99 reduction`, target: '≥ 10x', ...reductionOf(b.p99, 10), source: 'ours' as const },
    { name: `${b.name}: extra upstream load`, target: '≤ 5%', value: `${fmt(b.extra * 100, 1)}%`, pass: b.extra <= 0.05, source: 'ours' as const },
    ].map(guard);
  });
  // Routes without a per-try timeout must answer; the retry route's 25 ms tries also time out
  // when the host stalls, so its failures stay a timing figure (guardFailures).
  const answered = routes.filter((r) => r.name !== 'retry').map((r) => answeredCheck(r.name, of(r.name).map((x) => x.stream)));
  checks.unshift(tailCheck, ...answered);
  const notes = [...dropped].map(([name, why]) => `${name}: ${why}`);
  return {
    status: 'ok',
    tables: [
      {
        title: `Latency at ${RATE} req/s (ms, median of passes) and extra upstream requests`,
        columns: ['route', 'p50', 'p99', 'p99.9', 'p99 ÷', 'p99.9 ÷', 'extra load', 'failures'],
        rows,
        note: `"÷" = no-policy percentile divided by this route's, paired per pass.${notes.length ? ` Not measured: ${notes.join('; ')}.` : ''}`,
      },
    ],
    charts: [
      {
        kind: 'spectrum',
        title: `Latency percentile spectrum at ${RATE} req/s (last pass)`,
        series: routes.map((r) => ({ label: r.name, points: spectrum(of(r.name).at(-1)?.stream.histogram ?? '') })),
      },
    ],
    checks,
    data: { rate: RATE, upstream: TAIL_HEAVY, routes: ROUTES, runs: runs.map((r) => ({ ...r, stream: { ...r.stream, histogram: undefined }, extraLoad: round(r.extraLoad, 4) })) },
  };
}
