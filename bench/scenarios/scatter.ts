/**
 * scatter: a scatter-gather route calls three targets (2, 5 and 10 ms) at once and answers when
 * all have; its latency can be no better than the slowest target's, and the target is to add at
 * most 1 ms at p50 over it. Baselines measured in the same pass: the slowest target straight
 * from the generator ("direct"), and through Outrider as a plain route (the proxy's own cost).
 */
import { spectrum } from '../loadgen/histogram.js';
import type { StreamResult } from '../loadgen/protocol.js';
import { fmt, median, signed } from '../lib/stats.js';
import type { Behaviour } from '../upstreams/behaviour.js';
import { answeredCheck, failures, guardFailures, only, passOrder, setUpPattern, stream, type PatternSetup } from './pattern.js';
import { skipped, type Check, type Scenario, type ScenarioContext, type ScenarioOutcome } from './types.js';

const fixed = (ms: number): Behaviour => ({ latency: { kind: 'fixed', ms } });
/** The slowest of the three targets. */
const SLOWEST_MS = 10;
const RATE = 300;
const SCATTER = {
  targets: [
    { name: 'fast', upstream: 'fast' },
    { name: 'medium', upstream: 'medium' },
    { name: 'slow', upstream: 'slow' },
  ],
  require: 'all',
  aggregate: 'group',
};

type Config = 'direct to slowest' | 'Outrider → slowest' | 'scatter-gather (3)';

interface Run {
  readonly config: Config;
  readonly pass: number;
  readonly stream: StreamResult;
}

async function measure(ctx: ScenarioContext, setup: PatternSetup, config: Config, pass: number): Promise<Run> {
  const { patternDurationMs: durationMs, warmupMs } = ctx.profile;
  const direct = config === 'direct to slowest';
  const path = config === 'scatter-gather (3)' ? '/product/1' : '/slow/1';
  const result = await ctx.loadgen.run({
    label: `scatter ${config}`,
    host: '127.0.0.1',
    port: direct ? setup.sim.port('slow') : setup.port,
    warmupMs,
    durationMs,
    timeoutMs: 10_000,
    streams: [stream(config, path, RATE, warmupMs + durationMs)],
  });
  return { config, pass, stream: only(result) };
}

export const scatter: Scenario = {
  name: 'scatter',
  title: 'Scatter-gather over three targets: added latency over the slowest',
  async run(ctx) {
    const setup = await setUpPattern(ctx, {
      scenario: 'scatter',
      endpoints: [
        { name: 'fast', behaviour: fixed(2) },
        { name: 'medium', behaviour: fixed(5) },
        { name: 'slow', behaviour: fixed(SLOWEST_MS) },
      ],
      upstreams: { fast: ['fast'], medium: ['medium'], slow: ['slow'] },
      routes: [
        { name: 'slow-only', path: '/slow/', upstream: 'slow' },
        { name: 'product', path: '/product/', policy: { scatterGather: SCATTER } },
      ],
      layer: 'scatterGather',
      needs: { product: 'scatterGather' },
      seed: 5000,
    });
    if ('skip' in setup) return skipped(setup.skip);
    try {
      const configs: Config[] = ['direct to slowest', 'Outrider → slowest', 'scatter-gather (3)'];
      const runs: Run[] = [];
      for (let pass = 0; pass < ctx.profile.passes; pass++) {
        for (const config of passOrder(configs, pass)) {
          runs.push(await measure(ctx, setup, config, pass));
          setup.assertAlive();
        }
      }
      return report(configs, runs);
    } finally {
      await setup.close();
    }
  },
};

function report(configs: readonly Config[], runs: readonly Run[]): ScenarioOutcome {
  const of = (c: Config): Run[] => runs.filter((r) => r.config === c);
  /** Median over passes of (config's percentile − direct's), paired per pass. */
  const added = (c: Config, p: 'p50' | 'p99'): number =>
    median(
      of(c).flatMap((r) => {
        const base = runs.find((b) => b.config === 'direct to slowest' && b.pass === r.pass);
        return base ? [r.stream.latency[p] - base.stream.latency[p]] : [];
      }),
    );
  const rows = configs.map((c) => {
    const med = (pick: (r: Run) => number): number => median(of(c).map(pick));
    const isBase = c === 'direct to slowest';
    return [
      c,
      fmt(med((r) => r.stream.latency.p50)),
      fmt(med((r) => r.stream.latency.p99)),
      isBase ? '' : signed(added(c, 'p50'), 3),
      isBase ? '' : signed(added(c, 'p99'), 3),
      failures(of(c)[0]?.stream as StreamResult),
    ];
  });
  const p50 = added('scatter-gather (3)', 'p50');
  // With `require: all` no answer can come before the slowest target's 10 ms: a faster p50
  // means Outrider did not wait for every target, and the added-p50 figure would pass vacuously.
  const gatherP50 = median(of('scatter-gather (3)').map((r) => r.stream.latency.p50));
  const waited = gatherP50 >= SLOWEST_MS;
  const checks: Check[] = [
    {
      name: 'scatter-gather waited for all three targets (p50)',
      target: `≥ ${SLOWEST_MS} ms, the slowest target`,
      value: `${fmt(gatherP50, 3)} ms`,
      pass: waited,
      source: 'ours',
      functional: true,
    },
    guardFailures(
      { name: 'scatter-gather added p50 over the slowest target', target: '≤ 1 ms', value: `${fmt(p50, 3)} ms`, pass: waited && Number.isFinite(p50) ? p50 <= 1 : null, source: 'ours' },
      runs.map((r) => r.stream),
    ),
    answeredCheck('through Outrider (plain and scatter-gather)', runs.filter((r) => r.config !== 'direct to slowest').map((r) => r.stream)),
  ];
  return {
    status: 'ok',
    tables: [
      {
        title: `Latency at ${RATE} req/s, targets 2 / 5 / 10 ms (ms, median of passes; "+" over direct to the slowest, paired per pass)`,
        columns: ['configuration', 'p50', 'p99', '+p50', '+p99', 'failures'],
        rows,
      },
    ],
    charts: [
      {
        kind: 'spectrum',
        title: `Latency spectrum at ${RATE} req/s (last pass)`,
        series: configs.map((c) => ({ label: c, points: spectrum(of(c).at(-1)?.stream.histogram ?? '') })),
      },
    ],
    checks,
    data: { rate: RATE, scatterGather: SCATTER, runs: runs.map((r) => ({ ...r, stream: { ...r.stream, histogram: undefined } })) },
  };
}
