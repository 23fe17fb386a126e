/**
 * overhead: what the sidecar costs. The same load goes straight to the upstream ("direct") and
 * through each proxy (Outrider with no policies, nginx, HAProxy, a minimal undici pass-through,
 * a minimal http-proxy pass-through), at fixed rates and at max throughput, in interleaved
 * passes. Every figure that compares is a paired difference or ratio from the same pass, and
 * the reported value is the median over passes (the host swings ±15-30% between passes).
 *
 * Placement (design/performance.md): each proxy alone on core 1; the generator, the upstream
 * (nginx `return 200` when installed, so the upstream is not the bottleneck) and the runner on
 * core 0.
 */
import { spectrum, mergeEncoded } from '../loadgen/histogram.js';
import type { StreamResult } from '../loadgen/protocol.js';
import { newestProfile, summarizeProfile } from '../lib/cpuprofile.js';
import { outriderBuilt, startOutrider } from '../lib/outrider.js';
import { freePorts } from '../lib/ports.js';
import { peakRssMiB, rssMiB } from '../lib/procstat.js';
import { CONNECTIONS, type Profile } from '../lib/profile.js';
import { fmt, median, round, signed } from '../lib/stats.js';
import { wrkInstalled, wrkMaxRps } from '../lib/wrk.js';
import { startHaproxy } from '../peers/haproxy.js';
import { startNginxProxy, startNginxUpstream } from '../peers/nginx.js';
import { startHttpProxyPeer, startUndiciPeer } from '../peers/node-peers.js';
import type { Started } from '../peers/target.js';
import { guardFailures } from './pattern.js';
import { instant } from '../upstreams/behaviour.js';
import { Simulator } from '../upstreams/index.js';
import { measuredSample, warmUpEach, type Sample } from './paired.js';
import type { Chart, Check, Scenario, ScenarioContext, Table } from './types.js';

type Running = Extract<Started, { ok: true }>;

interface Target {
  readonly name: string;
  readonly run: Running;
  readonly idleRssMiB: number | undefined;
}


const PERCENTILES = ['p50', 'p90', 'p99', 'p999'] as const;
type Percentile = (typeof PERCENTILES)[number];

function outriderPolicy(adminPort: number, listenPort: number, upstreamPort: number): string {
  return `version: 1
admin: { address: 127.0.0.1:${adminPort} }
accessLog: off
listeners: [ { name: outbound, address: 127.0.0.1:${listenPort} } ]
upstreams: { app: { endpoints: [ "http://127.0.0.1:${upstreamPort}" ], connections: 64 } }
routes: [ { name: all, match: { pathPrefix: / }, upstream: app } ]
`;
}

interface Upstream {
  readonly port: number;
  readonly kind: string;
  stop(): Promise<unknown>;
}

/** nginx `return 200` when installed, else a node:http upstream (which caps the fast peers). */
export async function startUpstream(port: number): Promise<Upstream> {
  const nginx = await startNginxUpstream(port);
  if (nginx.ok) return { port, kind: 'nginx return 200 (100-byte body)', stop: () => nginx.stop() };
  const sim = await Simulator.start([{ name: 'app', port, seed: 1, behaviour: instant }]);
  return { port, kind: 'node:http simulator (nginx not installed: the upstream may be the bottleneck)', stop: () => sim.close() };
}

async function startTargets(ctx: ScenarioContext, upstreamPort: number): Promise<{ targets: Target[]; missing: Map<string, string> }> {
  const [outriderPort, adminPort, nginxPort, haproxyPort, undiciPort, httpProxyPort] = (await freePorts(6)) as [number, number, number, number, number, number];
  const direct: Running = { ok: true, port: upstreamPort, pid: undefined, readyMs: undefined, stop: async () => undefined, died: () => undefined };
  const starters: [string, () => Promise<Started>][] = [
    ['outrider', () => startOutriderTarget(outriderPort, adminPort, upstreamPort, ctx.cpuProfDir)],
    ['nginx', () => startNginxProxy(nginxPort, upstreamPort)],
    ['haproxy', () => startHaproxy(haproxyPort, upstreamPort)],
    ['undici', () => startUndiciPeer(undiciPort, upstreamPort)],
    ['http-proxy', () => startHttpProxyPeer(httpProxyPort, upstreamPort)],
  ];
  const targets: Target[] = [{ name: 'direct', run: direct, idleRssMiB: undefined }];
  const missing = new Map<string, string>();
  // One at a time: start-up times are measured, and two starting processes would share core 1.
  for (const [name, start] of starters) {
    const started = await start();
    if (started.ok) {
      targets.push({ name, run: started, idleRssMiB: started.pid ? rssMiB(started.pid) : undefined });
      ctx.log(`  ${name}: ready in ${started.readyMs} ms`);
    } else {
      missing.set(name, started.reason);
      ctx.log(`  ${name}: ${started.reason}`);
    }
  }
  return { targets, missing };
}

async function startOutriderTarget(port: number, adminPort: number, upstreamPort: number, cpuProfDir: string | undefined): Promise<Started> {
  const started = await startOutrider('outrider-overhead', outriderPolicy(adminPort, port, upstreamPort), adminPort, { cpuProfDir });
  if (!started.ok) return started;
  return { ok: true, port, pid: started.pid, readyMs: started.readyMs, stop: () => started.stop().then(() => undefined), died: () => started.died() };
}

async function measure(ctx: ScenarioContext, target: Target, pass: number, mode: number | 'max', durationMs: number): Promise<Sample> {
  const { profile } = ctx;
  const rateMode = mode === 'max' ? ({ kind: 'max' } as const) : ({ kind: 'rate', rps: mode } as const);
  return measuredSample(target, pass, mode, { warmupMs: profile.warmupMs, durationMs }, () =>
    ctx.loadgen.run({
      label: `overhead ${target.name} ${mode === 'max' ? 'max' : `${mode}/s`}`,
      host: '127.0.0.1',
      port: target.run.port,
      warmupMs: profile.warmupMs,
      durationMs,
      timeoutMs: 10_000,
      streams: [{ name: target.name, path: '/', mode: rateMode, connections: CONNECTIONS, maxRequests: 2_000_000 }],
    }),
  );
}

/** Closed-loop load on each target before its first measurement, so the JIT is warm. */
function warmUp(ctx: ScenarioContext, targets: readonly Target[]): Promise<void> {
  return warmUpEach(ctx, targets, () => ({ streams: [{ name: 'warm-up', path: '/', mode: { kind: 'max' }, connections: CONNECTIONS, maxRequests: 5_000_000 }] }));
}

/** Rotates the order per pass so no target is always measured first or last. */
function rotate<T>(items: readonly T[], by: number): T[] {
  const k = by % items.length;
  return [...items.slice(k), ...items.slice(0, k)];
}

/**
 * Every target at every rate, pass after pass. A target whose process died is dropped from
 * later runs and recorded in `dead` (its figures so far stay, but its checks fail).
 */
async function runPasses(ctx: ScenarioContext, targets: readonly Target[], dead: Map<string, string>): Promise<Sample[]> {
  const { profile } = ctx;
  const samples: Sample[] = [];
  // wrk beside every max-throughput run only in --full; the quick profile has wrk-check for that.
  const useWrk = wrkInstalled() && profile.name === 'full';
  for (let pass = 0; pass < profile.passes; pass++) {
    ctx.log(`  pass ${pass + 1}/${profile.passes}`);
    for (const mode of [...profile.rates, 'max' as const]) {
      for (const target of rotate(targets, pass)) {
        if (dead.has(target.name)) continue;
        const sample = await measure(ctx, target, pass, mode, profile.durationMs);
        const wrkRps = mode === 'max' && useWrk ? await wrkMaxRps(target.run.port, profile.durationMs / 2) : undefined;
        samples.push(wrkRps === undefined ? sample : { ...sample, wrkRps });
        const died = target.run.died();
        if (died) {
          dead.set(target.name, died);
          ctx.log(`  ${died}`);
        }
      }
    }
  }
  return samples;
}

function find(samples: readonly Sample[], target: string, mode: number | 'max'): Sample[] {
  return samples.filter((s) => s.target === target && s.mode === mode);
}

/** Median over passes of (target's percentile − direct's percentile in the same pass). */
function addedLatency(samples: readonly Sample[], target: string, rate: number, p: Percentile): number {
  const diffs = find(samples, target, rate).flatMap((s) => {
    const direct = samples.find((d) => d.target === 'direct' && d.mode === rate && d.pass === s.pass);
    return direct ? [s.stream.latency[p] - direct.stream.latency[p]] : [];
  });
  return median(diffs);
}

function medianOf(samples: readonly Sample[], pick: (s: Sample) => number | undefined): number {
  return median(samples.map(pick).filter((v): v is number => v !== undefined));
}

/** Median over passes of a / b, both measured in the same pass. */
function pairedRatio(samples: readonly Sample[], a: string, b: string, pick: (s: Sample) => number | undefined): number {
  const ratios = find(samples, a, 'max').flatMap((s) => {
    const other = samples.find((o) => o.target === b && o.mode === 'max' && o.pass === s.pass);
    const x = pick(s);
    const y = other ? pick(other) : undefined;
    return x !== undefined && y !== undefined && y > 0 ? [x / y] : [];
  });
  return median(ratios);
}


function errorsOf(samples: readonly Sample[]): number {
  let n = 0;
  for (const s of samples) for (const [kind, count] of Object.entries(s.stream.outcomes)) if (kind !== '2xx') n += count;
  return n;
}

interface Summary {
  readonly target: string;
  readonly readyMs: number | undefined;
  readonly idleRssMiB: number | undefined;
  readonly peakRssMiB: number | undefined;
  readonly rates: Record<string, { latency: Partial<Record<Percentile, number>>; added: Record<Percentile, number>; cpuSecondsPer10k: number; achievedRps: number }>;
  readonly maxRps: number;
  readonly wrkMaxRps: number;
  readonly maxRpsRatio: Record<string, number>;
  readonly cpuSecondsPer10kAtMax: number;
  readonly errors: number;
}

function summarize(profile: Profile, samples: readonly Sample[], target: Target): Summary {
  const rates: Summary['rates'] = {};
  for (const rate of profile.rates) {
    const mine = find(samples, target.name, rate);
    const latency: Partial<Record<Percentile, number>> = {};
    const added = {} as Record<Percentile, number>;
    for (const p of PERCENTILES) {
      latency[p] = round(medianOf(mine, (s) => s.stream.latency[p]), 3);
      added[p] = round(addedLatency(samples, target.name, rate, p), 3);
    }
    rates[String(rate)] = {
      latency,
      added,
      cpuSecondsPer10k: round(medianOf(mine, (s) => s.cpuSecondsPer10k), 3),
      achievedRps: round(medianOf(mine, (s) => s.stream.achievedRps), 0),
    };
  }
  const ratio = (other: string, pick: (s: Sample) => number | undefined): number => round(pairedRatio(samples, target.name, other, pick), 3);
  const loadgenRps = (s: Sample): number => s.stream.achievedRps;
  return {
    target: target.name,
    readyMs: target.run.readyMs,
    idleRssMiB: target.idleRssMiB,
    peakRssMiB: target.run.pid ? peakRssMiB(target.run.pid) : undefined,
    rates,
    maxRps: round(medianOf(find(samples, target.name, 'max'), loadgenRps), 0),
    wrkMaxRps: round(medianOf(find(samples, target.name, 'max'), (s) => s.wrkRps), 0),
    maxRpsRatio: {
      undici: ratio('undici', loadgenRps),
      'http-proxy': ratio('http-proxy', loadgenRps),
      nginx: ratio('nginx', (s) => s.wrkRps ?? s.stream.achievedRps),
    },
    cpuSecondsPer10kAtMax: round(medianOf(find(samples, target.name, 'max'), (s) => s.cpuSecondsPer10k), 3),
    errors: errorsOf(samples.filter((s) => s.target === target.name)),
  };
}

function latencyTable(profile: Profile, summaries: readonly Summary[]): Table {
  const columns = ['target'];
  for (const rate of profile.rates) columns.push(`${rate}/s p50`, `p99`, `+p50`, `+p90`, `+p99`, `+p99.9`);
  const rows = summaries.map((s) => {
    const row = [s.target];
    for (const rate of profile.rates) {
      const r = s.rates[String(rate)];
      row.push(fmt(r?.latency.p50), fmt(r?.latency.p99));
      for (const p of PERCENTILES) row.push(s.target === 'direct' ? '' : signed(r?.added[p]));
    }
    return row;
  });
  return {
    title: 'Latency at fixed rates (ms; "+" = added over direct, paired per pass, median of passes)',
    columns,
    rows,
    note: 'Open loop, corrected for coordinated omission: latency from each request\'s intended send time.',
  };
}

function throughputTable(summaries: readonly Summary[], useWrk: boolean, topRate: number): Table {
  const columns = ['target', 'max req/s', ...(useWrk ? ['wrk req/s'] : []), '÷ undici', '÷ http-proxy', '÷ nginx', `CPU s/10k @${topRate}/s`, 'CPU s/10k @max', 'RSS idle→peak MiB', 'ready ms', 'errors'];
  const rows = summaries.map((s) => [
    s.target,
    fmt(s.maxRps, 0),
    ...(useWrk ? [fmt(s.wrkMaxRps, 0)] : []),
    fmt(s.maxRpsRatio.undici),
    fmt(s.maxRpsRatio['http-proxy']),
    fmt(s.maxRpsRatio.nginx),
    fmt(s.rates[String(topRate)]?.cpuSecondsPer10k, 3),
    fmt(s.cpuSecondsPer10kAtMax, 3),
    s.idleRssMiB === undefined ? '—' : `${fmt(s.idleRssMiB, 0)}→${fmt(s.peakRssMiB, 0)}`,
    fmt(s.readyMs, 0),
    String(s.errors),
  ]);
  return {
    title: 'Throughput on one core and resources (medians of passes; ratios paired per pass)',
    columns,
    rows,
    note: useWrk
      ? '÷ nginx uses wrk\'s figures (nginx and HAProxy outrun a Node generator); the other ratios use the generator\'s.'
      : 'wrk not run (not installed, or not --full): every ratio uses the generator\'s figures, which understate nginx and HAProxy.',
  };
}

function charts(profile: Profile, samples: readonly Sample[], summaries: readonly Summary[]): Chart[] {
  const rate = profile.rates.includes(1000) ? 1000 : (profile.rates[0] as number);
  const spectrumChart: Chart = {
    kind: 'spectrum',
    title: `Latency percentile spectrum at ${rate} req/s (all passes merged)`,
    series: summaries.map((s) => ({ label: s.target, points: spectrum(mergeEncoded(find(samples, s.target, rate).map((x) => x.stream.histogram))) })),
  };
  const bars: Chart = {
    kind: 'bars',
    title: 'Max throughput on one core (req/s, median of passes)',
    unit: 'req/s',
    labels: summaries.map((s) => s.target),
    series: [
      { label: 'our generator', values: summaries.map((s) => (Number.isFinite(s.maxRps) ? s.maxRps : null)) },
      ...(summaries.some((s) => Number.isFinite(s.wrkMaxRps)) ? [{ label: 'wrk', values: summaries.map((s) => (Number.isFinite(s.wrkMaxRps) ? s.wrkMaxRps : null)) }] : []),
    ],
  };
  return [spectrumChart, bars];
}

function checks(summaries: readonly Summary[], missing: ReadonlyMap<string, string>, outriderStreams: readonly StreamResult[], dead: ReadonlyMap<string, string>): Check[] {
  const o = summaries.find((s) => s.target === 'outrider');
  const crash = dead.get('outrider');
  const at1k = o?.rates['1000'];
  const why = missing.get('outrider') ?? 'not measured';
  const check = (name: string, target: string, value: number | undefined, pass: (v: number) => boolean, unit: string, source: Check['source']): Check =>
    value === undefined || !Number.isFinite(value)
      ? { name, target, value: o ? 'not measured' : why, pass: null, source }
      : guardFailures({ name, target, value: `${fmt(value)}${unit}`, pass: pass(value), source }, outriderStreams);
  const all = [
    check('added p99 at 1,000 req/s', '< 20 ms', at1k?.added.p99, (v) => v < 20, ' ms', 'seed'),
    check('added p99 at 1,000 req/s', '≤ 1 ms', at1k?.added.p99, (v) => v <= 1, ' ms', 'ours'),
    check('added p50 at 1,000 req/s', '≤ 0.3 ms', at1k?.added.p50, (v) => v <= 0.3, ' ms', 'ours'),
    check('max throughput ÷ minimal undici', '≥ 0.90', o?.maxRpsRatio.undici, (v) => v >= 0.9, 'x', 'ours'),
    check('max throughput ÷ http-proxy', '≥ 1.5', o?.maxRpsRatio['http-proxy'], (v) => v >= 1.5, 'x', 'ours'),
    check('max throughput ÷ nginx (moonshot)', '≥ 0.5', o?.maxRpsRatio.nginx, (v) => v >= 0.5, 'x', 'ours'),
    check('peak RSS under load', '< 100 MiB', o?.peakRssMiB, (v) => v < 100, ' MiB', 'ours'),
    check('start to ready', '< 500 ms', o?.readyMs, (v) => v < 500, ' ms', 'ours'),
  ];
  // A crash under load fails every target, whatever was measured before it.
  const measured = crash ? all.map((c) => ({ ...c, value: `${c.value}; Outrider crashed: ${crash.slice(0, 200)}`, pass: false })) : all;
  // The figures above are "not measured" when Outrider never started; this says it failed.
  const served: Check = {
    name: 'Outrider started, answered every request and stayed up',
    target: 'started, 0 failed, no crash',
    value: !o ? `did not start: ${why}` : crash ? `crashed: ${crash.slice(0, 200)}` : `${o.errors} failed`,
    pass: o !== undefined && !crash && o.errors === 0,
    source: 'ours',
    functional: true,
  };
  return [served, ...measured];
}

/** With --cpu-prof: where Outrider's CPU went over the whole scenario, self time per function. */
function reportProfile(ctx: ScenarioContext): void {
  const file = ctx.cpuProfDir ? newestProfile(ctx.cpuProfDir) : undefined;
  if (!file) return ctx.log('  --cpu-prof: Outrider wrote no profile (did it exit cleanly on SIGTERM?)');
  const summary = summarizeProfile(file);
  ctx.log(`  --cpu-prof: ${file} (open in Chrome DevTools or speedscope for a flame graph)`);
  ctx.log(`  Outrider was busy in ${summary.busyPercent}% of samples; self time as a share of busy time, by module:`);
  for (const m of summary.modules) ctx.log(`    ${m.selfPercent.toFixed(1).padStart(5)}%  ${m.name}`);
  ctx.log('  by function:');
  for (const f of summary.functions) ctx.log(`    ${f.selfPercent.toFixed(1).padStart(5)}%  ${f.name}`);
}

export const overhead: Scenario = {
  name: 'overhead',
  title: 'Overhead: direct vs Outrider (no policies) vs peers',
  async run(ctx) {
    const [upstreamPort] = (await freePorts(1)) as [number];
    const upstream = await startUpstream(upstreamPort);
    ctx.log(`  upstream: ${upstream.kind}`);
    const { targets, missing } = await startTargets(ctx, upstreamPort);
    try {
      await warmUp(ctx, targets);
      const dead = new Map<string, string>();
      const samples = await runPasses(ctx, targets, dead);
      const summaries = targets.map((t) => summarize(ctx.profile, samples, t));
      const useWrk = samples.some((s) => s.wrkRps !== undefined);
      const topRate = Math.max(...ctx.profile.rates);
      const notes = [...missing, ...dead].map(([name, reason]) => [name, reason]);
      const tables: Table[] = [latencyTable(ctx.profile, summaries), throughputTable(summaries, useWrk, topRate)];
      if (notes.length > 0) tables.push({ title: 'Not measured, or died during the run', columns: ['target', 'why'], rows: notes });
      return {
        status: 'ok',
        tables,
        charts: charts(ctx.profile, samples, summaries),
        checks: checks(summaries, missing, samples.filter((s) => s.target === 'outrider').map((s) => s.stream), dead),
        data: {
          upstream: upstream.kind,
          outriderBuilt: outriderBuilt(),
          missing: Object.fromEntries(missing),
          died: Object.fromEntries(dead),
          summaries,
          samples: samples.map(({ stream, ...rest }) => ({ ...rest, latency: stream.latency, service: stream.service, achievedRps: stream.achievedRps, outcomes: stream.outcomes })),
        },
      };
    } finally {
      for (const t of targets) await t.run.stop();
      await upstream.stop();
      if (ctx.cpuProfDir) reportProfile(ctx);
    }
  },
};
