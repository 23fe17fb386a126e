/**
 * soak: a steady rate for a long time (10 minutes in --full), sampling Outrider's resident
 * memory, V8 heap, open file descriptors and event-loop delay over time. The pass condition is
 * bounded growth: what the process holds after warming up is what it holds at the end.
 *
 * Duration: 10 min (--full), 30 s (quick), 4 s (--smoke); `--duration` overrides it when given,
 * and so does the environment variable BENCH_SOAK_DURATION (e.g. `BENCH_SOAK_DURATION=1h`).
 *
 * The load goes through two routes: a plain one, and one with timeout, retry (with budget),
 * circuit breaker and bulkhead, so per-route state is exercised too; its upstream answers 1%
 * of requests with 503 (retried), so the error paths run all the time.
 */
import fs from 'node:fs';
import type { StreamResult } from '../loadgen/protocol.js';
import { get } from '../lib/http.js';
import { startOutrider } from '../lib/outrider.js';
import { freePorts } from '../lib/ports.js';
import { rssMiB } from '../lib/procstat.js';
import { PROFILES } from '../lib/profile.js';
import { fmt, median, round } from '../lib/stats.js';
import { Simulator } from '../upstreams/index.js';
import { failures } from './pattern.js';
import { skipped, type Check, type Scenario, type ScenarioContext, type ScenarioOutcome } from './types.js';

const RATE = { smoke: 300, quick: 500, full: 1000 } as const;
const DURATION_MS = { smoke: 4_000, quick: 30_000, full: 600_000 } as const;
const SAMPLE_MS = { smoke: 500, quick: 2_000, full: 10_000 } as const;

interface Sample {
  /** Seconds since the measured window began. */
  readonly t: number;
  readonly rssMiB: number | undefined;
  readonly heapUsedMiB: number | undefined;
  readonly fds: number | undefined;
  /** Event-loop delay since the previous scrape (prom-client resets it per scrape), ms. */
  readonly loopP99Ms: number | undefined;
  readonly loopMaxMs: number | undefined;
}

function parseDuration(text: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text.trim());
  if (!match) throw new Error(`BENCH_SOAK_DURATION: bad duration "${text}" (try 90s, 10m, 1h)`);
  const value = Number(match[1]);
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[match[2] ?? 's'] ?? 1000;
  return value * unit;
}

export function soakDurationMs(ctx: Pick<ScenarioContext, 'profile'>): number {
  const env = process.env.BENCH_SOAK_DURATION;
  if (env) return parseDuration(env);
  const { profile } = ctx;
  // `--duration` changed the profile's window: the user asked for that length.
  if (profile.durationMs !== PROFILES[profile.name].durationMs) return profile.durationMs;
  return DURATION_MS[profile.name];
}

function policy(adminPort: number, listenPort: number, upstreamPort: number, flakyPort: number): string {
  return `version: 1
admin: { address: 127.0.0.1:${adminPort} }
accessLog: off
listeners: [ { name: outbound, address: 127.0.0.1:${listenPort} } ]
upstreams:
  app: { endpoints: [ "http://127.0.0.1:${upstreamPort}" ], connections: 64 }
  flaky: { endpoints: [ "http://127.0.0.1:${flakyPort}" ], connections: 64 }
routes:
  - { name: plain, match: { pathPrefix: /plain }, upstream: app }
  - name: guarded
    match: { pathPrefix: /guarded }
    upstream: flaky
    timeout: 2s
    retry: { attempts: 2, on: [503, reset], backoff: { base: 1ms, max: 5ms }, budget: { ratio: 0.2, minPerSecond: 10 } }
    circuitBreaker: { failureRatio: 0.9, minRequests: 50, window: 10s, openFor: 1s }
    bulkhead: { maxConcurrent: 256, maxQueued: 256, queueTimeout: 100ms }
`;
}

function metric(text: string, name: string): number | undefined {
  const match = new RegExp(`^${name}(?:\\{[^}]*\\})? ([0-9.eE+-]+)$`, 'm').exec(text);
  return match ? Number(match[1]) : undefined;
}

function openFds(pid: number): number | undefined {
  try {
    return fs.readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    return undefined;
  }
}

async function sample(pid: number, adminPort: number, t0: number): Promise<Sample> {
  let text = '';
  try {
    text = (await get(adminPort, '/metrics', 2000)).body;
  } catch {
    /* reported as missing */
  }
  const seconds = (name: string): number | undefined => {
    const v = metric(text, name);
    return v === undefined ? undefined : round(v * 1000, 2);
  };
  const heap = metric(text, 'outrider_nodejs_heap_size_used_bytes');
  return {
    t: round((performance.now() - t0) / 1000, 1),
    rssMiB: rssMiB(pid),
    heapUsedMiB: heap === undefined ? undefined : round(heap / 2 ** 20, 1),
    fds: openFds(pid),
    loopP99Ms: seconds('outrider_nodejs_eventloop_lag_p99_seconds'),
    loopMaxMs: seconds('outrider_nodejs_eventloop_lag_max_seconds'),
  };
}

/** Median of a field over the samples whose time falls in [from, to) of the run (fractions). */
function window(samples: readonly Sample[], pick: (s: Sample) => number | undefined, from: number, to: number): number {
  const end = samples.at(-1)?.t ?? 0;
  return median(samples.filter((s) => s.t >= from * end && s.t < to * end + 1e-9).flatMap((s) => (pick(s) === undefined ? [] : [pick(s) as number])));
}

/** Least-squares slope of a field against time, per hour. */
function slopePerHour(samples: readonly Sample[], pick: (s: Sample) => number | undefined): number {
  const points = samples.flatMap((s) => (pick(s) === undefined ? [] : [[s.t, pick(s) as number] as const]));
  if (points.length < 3) return NaN;
  const n = points.length;
  const mx = points.reduce((a, [x]) => a + x, 0) / n;
  const my = points.reduce((a, [, y]) => a + y, 0) / n;
  const sxx = points.reduce((a, [x]) => a + (x - mx) ** 2, 0);
  const sxy = points.reduce((a, [x, y]) => a + (x - mx) * (y - my), 0);
  return sxx === 0 ? NaN : (sxy / sxx) * 3600;
}

export const soak: Scenario = {
  name: 'soak',
  title: 'Soak: a steady rate for minutes; memory, heap, file descriptors and event-loop delay must stay bounded',
  async run(ctx) {
    const name = ctx.profile.name;
    const durationMs = soakDurationMs(ctx);
    const rate = RATE[name];
    const sampleMs = Math.min(SAMPLE_MS[name], Math.max(250, durationMs / 20));
    const [adminPort, listenPort, upstreamPort, flakyPort] = (await freePorts(4)) as [number, number, number, number];
    const latency = { kind: 'lognormal', medianMs: 1, sigma: 0.3 } as const;
    const sim = await Simulator.start([
      { name: 'app', port: upstreamPort, seed: 7000, behaviour: { latency } },
      { name: 'flaky', port: flakyPort, seed: 7001, behaviour: { latency, error5xxRatio: 0.01 } },
    ]);
    const outrider = await startOutrider('outrider-soak', policy(adminPort, listenPort, upstreamPort, flakyPort), adminPort);
    if (!outrider.ok) {
      await sim.close();
      return skipped(outrider.reason);
    }
    try {
      ctx.log(`  ${rate} req/s for ${round(durationMs / 1000, 1)} s, a sample every ${sampleMs / 1000} s`);
      const samples: Sample[] = [];
      const t0 = performance.now();
      samples.push(await sample(outrider.pid, adminPort, t0));
      let sampling = Promise.resolve();
      const timer = setInterval(() => {
        sampling = sampling.then(async () => {
          samples.push(await sample(outrider.pid, adminPort, t0));
          const last = samples.at(-1) as Sample;
          if (name === 'full') ctx.log(`  t=${last.t}s rss ${fmt(last.rssMiB)} MiB heap ${fmt(last.heapUsedMiB)} MiB fds ${last.fds ?? '—'} loop p99 ${fmt(last.loopP99Ms)} ms`);
        });
      }, sampleMs);
      let result;
      try {
        result = await ctx.loadgen.run({
          label: 'soak',
          host: '127.0.0.1',
          port: listenPort,
          warmupMs: 0,
          durationMs,
          timeoutMs: 10_000,
          streams: [
            { name: 'plain', path: '/plain', mode: { kind: 'rate', rps: rate / 2 }, connections: 25, maxRequests: Math.ceil(((rate / 2) * (durationMs + 5000)) / 1000) },
            { name: 'guarded', path: '/guarded', mode: { kind: 'rate', rps: rate / 2 }, connections: 25, maxRequests: Math.ceil(((rate / 2) * (durationMs + 5000)) / 1000) },
          ],
        });
      } finally {
        clearInterval(timer);
        await sampling;
      }
      samples.push(await sample(outrider.pid, adminPort, t0));
      const died = outrider.died();
      if (died) throw new Error(died);
      return report(samples, result.streams, rate, durationMs);
    } finally {
      const code = await outrider.stop();
      if (code !== 0) ctx.log(`  note: Outrider exited with ${code} on SIGTERM (the contract says 0)`);
      await sim.close();
    }
  },
};

function report(samples: readonly Sample[], streams: readonly StreamResult[], rate: number, durationMs: number): ScenarioOutcome {
  const rss = (s: Sample): number | undefined => s.rssMiB;
  const heap = (s: Sample): number | undefined => s.heapUsedMiB;
  const fds = (s: Sample): number | undefined => s.fds;
  const loop = (s: Sample): number | undefined => s.loopP99Ms;
  // "After warm-up": 10-30% of the run; "end": the last 20%.
  const settled = { rss: window(samples, rss, 0.1, 0.3), heap: window(samples, heap, 0.1, 0.3), fds: window(samples, fds, 0.1, 0.3), loop: window(samples, loop, 0.1, 0.3) };
  const end = { rss: window(samples, rss, 0.8, 1), heap: window(samples, heap, 0.8, 1), fds: window(samples, fds, 0.8, 1), loop: window(samples, loop, 0.8, 1) };
  const maxFds = Math.max(...samples.flatMap((s) => (s.fds === undefined ? [] : [s.fds])));
  const secondHalf = samples.filter((s) => s.t >= (samples.at(-1)?.t ?? 0) / 2);
  const rssSlope = slopePerHour(secondHalf, rss);
  const heapSlope = slopePerHour(secondHalf, heap);
  // The guarded route passes on an upstream 503 when both tries got one (1% x 1%): the
  // upstream's answer, not a failure of the proxy. Anything else (transport failures, the
  // sidecar's own errors, which carry x-outrider-error) counts.
  const proxyFailures = streams.reduce((n, s) => n + Object.entries(s.outcomes).filter(([k]) => k !== '2xx' && k !== '503').reduce((m, [, v]) => m + v, 0), 0);
  const rssGrowth = end.rss - settled.rss;
  const heapGrowth = end.heap - settled.heap;
  const rssAllowance = Math.max(0.2 * settled.rss, 16);
  const heapAllowance = Math.max(0.25 * settled.heap, 8);
  // The slope catches what the medians can miss, a leak still growing at the end: the second
  // half's trend, continued for as long again as the whole soak, must stay within the growth
  // allowance. The bound tightens with the soak's length (10 min: 96 MiB/h of RSS; 1 h: 16).
  const hours = durationMs / 3_600_000;
  const slopeCheck = (what: string, slope: number, allowance: number): Check => ({
    name: `${what} slope over the second half`,
    target: `≤ growth allowance per soak length (${fmt(allowance / hours, 0)} MiB/h)`,
    value: `${fmt(slope, 1)} MiB/h`,
    pass: Number.isFinite(slope) && Number.isFinite(allowance) ? slope <= allowance / hours : null,
    source: 'ours',
  });
  // Bounded growth: within 20% (or 16 MiB) for RSS, 25% (or 8 MiB) for the heap after warm-up;
  // no descriptor leak (at most a few pooled connections more); the loop no slower at the end.
  const checks: Check[] = [
    { name: 'RSS growth after warm-up', target: '≤ max(20%, 16 MiB)', value: `${fmt(rssGrowth, 1)} MiB (${fmt(settled.rss, 1)} → ${fmt(end.rss, 1)})`, pass: Number.isFinite(rssGrowth) ? rssGrowth <= rssAllowance : null, source: 'ours' },
    slopeCheck('RSS', rssSlope, rssAllowance),
    { name: 'heap growth after warm-up', target: '≤ max(25%, 8 MiB)', value: `${fmt(heapGrowth, 1)} MiB (${fmt(settled.heap, 1)} → ${fmt(end.heap, 1)})`, pass: Number.isFinite(heapGrowth) ? heapGrowth <= heapAllowance : null, source: 'ours' },
    slopeCheck('heap', heapSlope, heapAllowance),
    { name: 'open file descriptors', target: 'max ≤ settled + 16', value: `${fmt(settled.fds, 0)} → max ${fmt(maxFds, 0)}`, pass: Number.isFinite(maxFds) && Number.isFinite(settled.fds) ? maxFds <= settled.fds + 16 : null, source: 'ours' },
    { name: 'event-loop delay p99 at the end', target: '≤ 2 × settled + 5 ms', value: `${fmt(settled.loop)} → ${fmt(end.loop)} ms`, pass: Number.isFinite(end.loop) ? end.loop <= 2 * settled.loop + 5 : null, source: 'ours' },
    {
      name: 'requests failed by the proxy (transport failures, its own errors)',
      target: '0 (upstream 503s that survive the retry are passed on, not counted)',
      value: `${proxyFailures} (${streams.map((s) => `${s.name}: ${failures(s)}`).join('; ')})`,
      pass: proxyFailures === 0 && streams.every((st) => st.completed > 0),
      source: 'ours',
      functional: true,
    },
  ];
  const series = (label: string, pick: (s: Sample) => number | undefined): { label: string; points: { t: number; ms: number }[] } => ({
    label,
    points: samples.flatMap((s) => (pick(s) === undefined ? [] : [{ t: s.t * 1000, ms: pick(s) as number }])),
  });
  return {
    status: 'ok',
    tables: [
      {
        title: `Soak at ${rate} req/s for ${fmt(durationMs / 1000, 0)} s (${samples.length} samples)`,
        columns: ['figure', 'start', 'after warm-up (10-30%)', 'end (last 20%)', 'max', 'slope, 2nd half'],
        rows: [
          ['RSS (MiB)', fmt(samples[0]?.rssMiB, 1), fmt(settled.rss, 1), fmt(end.rss, 1), fmt(Math.max(...samples.map((s) => s.rssMiB ?? 0)), 1), `${fmt(rssSlope, 1)} MiB/h`],
          ['V8 heap used (MiB)', fmt(samples[0]?.heapUsedMiB, 1), fmt(settled.heap, 1), fmt(end.heap, 1), fmt(Math.max(...samples.map((s) => s.heapUsedMiB ?? 0)), 1), `${fmt(heapSlope, 1)} MiB/h`],
          ['open fds', fmt(samples[0]?.fds, 0), fmt(settled.fds, 0), fmt(end.fds, 0), fmt(maxFds, 0), ''],
          ['event-loop delay p99 (ms)', fmt(samples[1]?.loopP99Ms), fmt(settled.loop), fmt(end.loop), fmt(Math.max(...samples.map((s) => s.loopP99Ms ?? 0))), ''],
          ['event-loop delay max (ms)', '', fmt(window(samples, (s) => s.loopMaxMs, 0.1, 0.3)), fmt(window(samples, (s) => s.loopMaxMs, 0.8, 1)), fmt(Math.max(...samples.map((s) => s.loopMaxMs ?? 0))), ''],
          ...streams.map((s) => [`${s.name}: latency p50 / p99 / max (ms)`, '', '', `${fmt(s.latency.p50)} / ${fmt(s.latency.p99)} / ${fmt(s.latency.max)}`, '', `${s.completed} answered, failures: ${failures(s)}`]),
        ],
        note: 'Sampled from /proc/PID (VmRSS, fd/) and /metrics (heap used; event-loop delay since the previous scrape, measured by prom-client with a 10 ms timer, so an idle loop reads ~10.7 ms at p99). Medians over each window.',
      },
    ],
    charts: [
      { kind: 'timeline', title: 'RSS and heap over the soak (MiB)', series: [series('RSS MiB', rss), series('heap used MiB', heap)], markers: [] },
      { kind: 'timeline', title: 'Open file descriptors over the soak', series: [series('fds', fds)], markers: [] },
      { kind: 'timeline', title: 'Event-loop delay p99 over the soak (ms)', series: [series('p99 ms', loop)], markers: [] },
    ],
    checks,
    data: { rate, durationMs, samples, streams: streams.map((s) => ({ ...s, histogram: undefined })) },
  };
}
