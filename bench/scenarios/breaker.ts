/**
 * breaker: an upstream goes down (every request fails slowly: 503 after 100 ms, the kind of
 * outage where failing fast matters) and recovers. Two routes on one Outrider, each to its own
 * copy of the upstream, both taken down and brought back at the same moment: one without a
 * policy, one with a circuit breaker. From a per-request trace: time from "down" to the first
 * `circuit-open` answer (time to open), from "up" to traffic flowing again (time to close), the
 * latency of the breaker's refusals (fail-fast), and how many requests still reached the sick
 * upstream.
 */
import type { StreamResult, Trace } from '../loadgen/protocol.js';
import { fmt, round, sleep } from '../lib/stats.js';
import type { Behaviour } from '../upstreams/behaviour.js';
import { failures, percentile, setUpPattern, stream, type PatternSetup } from './pattern.js';
import { skipped, type Check, type Scenario, type ScenarioContext, type ScenarioOutcome } from './types.js';

const HEALTHY: Behaviour = { latency: { kind: 'lognormal', medianMs: 1, sigma: 0.2 } };
const SICK: Behaviour = { latency: { kind: 'fixed', ms: 100 }, error5xxRatio: 1 };
const RATE = 200;
const BREAKER = { failureRatio: 0.5, minRequests: 20, window: '2s', openFor: '1s', halfOpenRequests: 3, failOn: ['5xx', 'connect-failure', 'reset', 'timeout'] };

interface Phases {
  readonly upMs: number;
  readonly downMs: number;
  readonly recoveredMs: number;
}

interface Timeline {
  /** Down and up, in ms from the job's t0. */
  readonly downAt: number;
  readonly upAt: number;
  /** Requests that reached each copy of the upstream while it was down. */
  readonly sickRequests: Readonly<Record<string, number>>;
}

/** Runs the load and flips both upstream copies down, then up, while it runs. */
async function runTimeline(ctx: ScenarioContext, setup: PatternSetup, phases: Phases): Promise<{ plain: StreamResult; breaker: StreamResult; timeline: Timeline }> {
  const warmupMs = 200;
  const durationMs = phases.upMs + phases.downMs + phases.recoveredMs;
  const job = ctx.loadgen.run({
    label: 'breaker down → up',
    host: '127.0.0.1',
    port: setup.port,
    warmupMs,
    durationMs,
    timeoutMs: 10_000,
    trace: true,
    streams: [stream('plain', '/plain', RATE, warmupMs + durationMs), stream('breaker', '/breaker', RATE, warmupMs + durationMs)],
  });
  // Approximate scheduling is enough: the simulator reports when each switch took effect.
  await sleep(warmupMs + phases.upMs);
  await setup.sim.stats(true);
  const [downEpoch] = await Promise.all([setup.sim.set('plain', SICK), setup.sim.set('breaker', SICK)]);
  await sleep(phases.downMs);
  const [upEpoch] = await Promise.all([setup.sim.set('plain', HEALTHY), setup.sim.set('breaker', HEALTHY)]);
  const sick = await setup.sim.stats(false);
  const result = await job;
  const plain = result.streams.find((s) => s.name === 'plain') as StreamResult;
  const breaker = result.streams.find((s) => s.name === 'breaker') as StreamResult;
  return {
    plain,
    breaker,
    timeline: {
      downAt: downEpoch - result.t0Epoch,
      upAt: upEpoch - result.t0Epoch,
      sickRequests: { plain: sick.plain?.received ?? 0, breaker: sick.breaker?.received ?? 0 },
    },
  };
}

interface Analysis {
  readonly timeToOpenMs: number;
  readonly timeToCloseMs: number;
  readonly refusals: number;
  readonly refusalP50: number;
  readonly refusalP99: number;
  /** Latency of requests intended while the upstream was down. */
  readonly downP50: number;
  readonly downP99: number;
}

function analyse(trace: Trace, t: Timeline): Analysis {
  const n = trace.intendedMs.length;
  const arrival = (i: number): number => (trace.intendedMs[i] as number) + (trace.latencyMs[i] as number);
  let firstOpen = Infinity;
  let lastOpenAfterUp = -Infinity;
  const refusalLatency: number[] = [];
  const downLatency: number[] = [];
  for (let i = 0; i < n; i++) {
    const a = arrival(i);
    const isOpen = trace.outcome[i] === '503:circuit-open';
    if (isOpen) {
      refusalLatency.push(trace.latencyMs[i] as number);
      if (a >= t.downAt) firstOpen = Math.min(firstOpen, a);
      if (a >= t.upAt) lastOpenAfterUp = Math.max(lastOpenAfterUp, a);
    }
    const intended = trace.intendedMs[i] as number;
    if (intended >= t.downAt && intended < t.upAt) downLatency.push(trace.latencyMs[i] as number);
  }
  // Closed again: the first success after the upstream came back and after the last refusal.
  const since = Math.max(t.upAt, lastOpenAfterUp);
  let firstOk = Infinity;
  for (let i = 0; i < n; i++) if (trace.outcome[i] === '2xx' && arrival(i) >= since) firstOk = Math.min(firstOk, arrival(i));
  return {
    timeToOpenMs: firstOpen - t.downAt,
    // Without an open breaker there is nothing to close.
    timeToCloseMs: Number.isFinite(firstOpen) ? firstOk - t.upAt : NaN,
    refusals: refusalLatency.length,
    refusalP50: percentile(refusalLatency, 50),
    refusalP99: percentile(refusalLatency, 99),
    downP50: percentile(downLatency, 50),
    downP99: percentile(downLatency, 99),
  };
}

/** At most `max` evenly spaced points of a trace, for the timeline chart. */
function timelinePoints(trace: Trace, max = 2500): { t: number; ms: number }[] {
  const step = Math.max(1, Math.ceil(trace.intendedMs.length / max));
  const points = [];
  for (let i = 0; i < trace.intendedMs.length; i += step) {
    points.push({ t: round((trace.intendedMs[i] as number) / 1000, 3), ms: trace.latencyMs[i] as number });
  }
  return points;
}

export const breaker: Scenario = {
  name: 'breaker',
  title: 'Circuit breaker: upstream down (503 after 100 ms), then recovered',
  async run(ctx) {
    const setup = await setUpPattern(ctx, {
      scenario: 'breaker',
      endpoints: [
        { name: 'plain', behaviour: HEALTHY },
        { name: 'breaker', behaviour: HEALTHY },
      ],
      upstreams: { 'app-plain': ['plain'], 'app-breaker': ['breaker'] },
      routes: [
        { name: 'plain', path: '/plain', upstream: 'app-plain' },
        { name: 'breaker', path: '/breaker', upstream: 'app-breaker', policy: { circuitBreaker: BREAKER } },
      ],
      layer: 'circuitBreaker',
      needs: { breaker: 'circuitBreaker' },
      seed: 2000,
    });
    if ('skip' in setup) return skipped(setup.skip);
    try {
      const s = ctx.profile.scale;
      const phases = { upMs: 2000 * s, downMs: 4000 * s, recoveredMs: 3000 * s };
      const { plain, breaker: withBreaker, timeline } = await runTimeline(ctx, setup, phases);
      setup.assertAlive();
      return report(plain, withBreaker, timeline);
    } finally {
      await setup.close();
    }
  },
};

function report(plain: StreamResult, withBreaker: StreamResult, timeline: Timeline): ScenarioOutcome {
  const a = { plain: analyse(plain.trace as Trace, timeline), breaker: analyse(withBreaker.trace as Trace, timeline) };
  const row = (name: 'plain' | 'breaker', s: StreamResult): string[] => [
    name,
    fmt(a[name].downP50),
    fmt(a[name].downP99),
    String(timeline.sickRequests[name] ?? 0),
    name === 'breaker' ? fmt(a[name].timeToOpenMs, 0) : '',
    name === 'breaker' ? fmt(a[name].timeToCloseMs, 0) : '',
    name === 'breaker' ? `${a[name].refusals}` : '',
    name === 'breaker' ? `${fmt(a[name].refusalP50, 3)} / ${fmt(a[name].refusalP99, 3)}` : '',
    failures(s),
  ];
  const checks: Check[] = [
    { name: 'open-breaker refusals p99', target: '< 1 ms', value: `${fmt(a.breaker.refusalP99, 3)} ms`, pass: Number.isFinite(a.breaker.refusalP99) ? a.breaker.refusalP99 < 1 : null, source: 'ours' },
    { name: 'breaker opened during the outage', target: 'yes', value: Number.isFinite(a.breaker.timeToOpenMs) ? `after ${fmt(a.breaker.timeToOpenMs, 0)} ms` : 'never', pass: Number.isFinite(a.breaker.timeToOpenMs), source: 'ours', functional: true },
    {
      name: 'breaker closed after recovery',
      target: 'yes',
      value: Number.isFinite(a.breaker.timeToCloseMs) ? `after ${fmt(a.breaker.timeToCloseMs, 0)} ms` : Number.isFinite(a.breaker.timeToOpenMs) ? 'never' : 'never opened',
      pass: Number.isFinite(a.breaker.timeToOpenMs) ? Number.isFinite(a.breaker.timeToCloseMs) : null,
      source: 'ours',
      functional: true,
    },
  ];
  return {
    status: 'ok',
    tables: [
      {
        title: `Outage at ${RATE} req/s per route (ms)`,
        columns: ['route', 'p50 while down', 'p99 while down', 'reached sick upstream', 'time to open', 'time to close', 'refusals', 'refusal p50 / p99', 'outcomes'],
        rows: [row('plain', plain), row('breaker', withBreaker)],
        note: `Breaker: ${JSON.stringify(BREAKER)}. Down ${fmt(timeline.downAt / 1000)} s → up ${fmt(timeline.upAt / 1000)} s into the run.`,
      },
    ],
    charts: [
      {
        kind: 'timeline',
        title: 'Latency of each request over time (down, then up)',
        series: [
          { label: 'no policy', points: timelinePoints(plain.trace as Trace) },
          { label: 'circuit breaker', points: timelinePoints(withBreaker.trace as Trace) },
        ],
        markers: [
          { t: round(timeline.downAt / 1000, 3), label: 'down' },
          { t: round(timeline.upAt / 1000, 3), label: 'up' },
        ],
      },
    ],
    checks,
    data: { rate: RATE, breaker: BREAKER, timeline, analysis: a, outcomes: { plain: plain.outcomes, breaker: withBreaker.outcomes } },
  };
}
