/**
 * grpc: what the sidecar costs a gRPC call, what hedging buys one, and HTTP/2 throughput
 * against nginx. One Outrider serves every route here (h2c prior knowledge on its listener, h2c
 * to the gRPC upstream), measured in interleaved rounds; figures that compare are paired within
 * a round, and the reported value is the median over rounds.
 *
 * 1. Added latency. A @grpc/grpc-js server (upstreams/grpc-echo.ts, hand-made service, raw
 *    bytes, no protobuf) echoes 64-byte unary calls at once. A @grpc/grpc-js client
 *    (loadgen/grpc-load.ts, one channel, open loop at a fixed rate, latency from each call's
 *    intended time, every echo checked byte for byte) calls it directly, through a route
 *    without patterns, and through a route with retry (on grpc:unavailable and
 *    connect-failure), hedge (after p90), circuit breaker and bulkhead. Added p50/p99 = through
 *    Outrider − direct, in the same round.
 * 2. Hedging. The same server on two other services holds 5% of calls 100 ms and the rest 1 ms.
 *    A route with a hedge (after its p90, budget 20%) against a route without, both through
 *    Outrider (and direct, for reference): p99 gain = no-hedge p99 ÷ hedge p99 in the same round,
 *    and the extra calls the server received.
 * 3. HTTP/2 throughput. h2load (closed loop, 10 connections × 10 streams, h2c) against Outrider
 *    (h2c listener, HTTP/1.1 to the upstream) and nginx (h2c listener: `listen … http2` before
 *    1.25.1, `http2 on` after), both proxying to the nginx `return 200` upstream of the overhead
 *    scenario. Outrider ÷ nginx req/s in the same round.
 *
 * Placement as elsewhere: Outrider and the nginx proxy alone on core 1; the gRPC client and
 * server, h2load, the nginx upstream and the runner on core 0.
 */
import os from 'node:os';
import { mergeEncoded, spectrum } from '../loadgen/histogram.js';
import type { GrpcResult } from '../loadgen/grpc-protocol.js';
import { GrpcEcho, GrpcLoad } from '../lib/grpc-procs.js';
import { h2loadInstalled, h2loadRun, type H2loadResult } from '../lib/h2load.js';
import { outriderBuilt, startOutrider, type RunningOutrider } from '../lib/outrider.js';
import { freePorts } from '../lib/ports.js';
import { coreOf, pinningAvailable } from '../lib/procs.js';
import { coreBusySeconds, cpuSeconds } from '../lib/procstat.js';
import type { ProfileName } from '../lib/profile.js';
import { fmt, round, signed } from '../lib/stats.js';
import { h2cByHttp2On, nginxVersion, startNginxH2cProxy } from '../peers/nginx.js';
import type { Started } from '../peers/target.js';
import { startUpstream } from './overhead.js';
import { directTarget, find, measuredSample, median, medianOf, pairedDiffs, rotate, type Running, type Sample } from './paired.js';
import { skipped, type Chart, type Check, type Scenario, type ScenarioContext, type Table } from './types.js';

/** The echo server's services; a route matches each by path prefix (`/bench.Plain/`). */
const SERVICE = { plain: 'bench.Plain', patterns: 'bench.Patterns', tailNone: 'bench.TailNone', tailHedge: 'bench.TailHedge' } as const;
/** The tail-heavy services: 5% of calls 100 ms, the rest 1 ms. */
const TAIL = { ratio: 0.05, slowMs: 100, fastMs: 1 } as const;
/** Calls per second of the latency runs and of the hedge runs. */
const LATENCY_RATE = 1000;
const HEDGE_RATE = 500;
const PAYLOAD_BYTES = 64;
/** Each call's gRPC deadline (grpc-timeout); no call should come near it. */
const DEADLINE_MS = 5000;
/** The tail route's hedge budget: p90 hedges about 10% of calls, so the default 5% would starve it. */
const HEDGE_BUDGET = 0.2;
/** Rounds per profile (at least the profile's passes). */
const ROUNDS: Readonly<Record<ProfileName, number>> = { smoke: 1, quick: 3, full: 5 };
/** h2load: connections and concurrent streams per connection. */
const H2 = { connections: 10, streams: 10 } as const;

/** Targets (issue 14). */
const ADDED_P50_PLAIN_MS = 1;
const ADDED_P50_PATTERNS_MS = 1.5;
const ADDED_P99_MS = 5;
const HEDGE_GAIN = 2;
const HEDGE_GAIN_OURS = 10;
const H2_RATIO = 0.3;

const ROUTE = { plain: 'grpc-plain', patterns: 'grpc-patterns', tailNone: 'grpc-tail', tailHedge: 'grpc-tail-hedge', h2: 'h2' } as const;

function policy(adminPort: number, listenPort: number, grpcPort: number, webPort: number): string {
  return `version: 1
admin: { address: 127.0.0.1:${adminPort} }
accessLog: off
listeners: [ { name: main, address: 127.0.0.1:${listenPort} } ]
upstreams:
  grpc: { endpoints: [ "http://127.0.0.1:${grpcPort}" ], protocol: h2c }
  web: { endpoints: [ "http://127.0.0.1:${webPort}" ], connections: 64 }
routes:
  - { name: ${ROUTE.plain}, match: { pathPrefix: /${SERVICE.plain}/ }, upstream: grpc }
  - name: ${ROUTE.patterns}
    match: { pathPrefix: /${SERVICE.patterns}/ }
    upstream: grpc
    retry: { attempts: 2, on: [ "grpc:unavailable", connect-failure ] }
    hedge: { delay: p90, maxAttempts: 2 }
    circuitBreaker: {}
    bulkhead: { maxConcurrent: 1000 }
  - { name: ${ROUTE.tailNone}, match: { pathPrefix: /${SERVICE.tailNone}/ }, upstream: grpc }
  - name: ${ROUTE.tailHedge}
    match: { pathPrefix: /${SERVICE.tailHedge}/ }
    upstream: grpc
    hedge: { delay: p90, maxAttempts: 2, budget: { ratio: ${HEDGE_BUDGET} } }
  - { name: ${ROUTE.h2}, match: { pathPrefix: / }, upstream: web }
`;
}

/** Layers each route must have per GET /status (in --smoke and out of it: they have all landed). */
const NEEDS: Readonly<Record<string, readonly string[]>> = {
  [ROUTE.patterns]: ['retry', 'hedge', 'circuitBreaker', 'bulkhead'],
  [ROUTE.tailHedge]: ['hedge'],
};

interface GrpcTarget {
  /** direct, outrider, outrider-patterns; tail-direct, tail-no-hedge, tail-hedge. */
  readonly name: string;
  readonly group: 'latency' | 'tail';
  readonly service: string;
  readonly run: Running;
  readonly viaOutrider: boolean;
}

interface H2Sample {
  readonly target: string;
  readonly round: number;
  readonly result: H2loadResult | undefined;
  /** The end of h2load's output when it gave no summary. */
  readonly error?: string;
}

interface Measured {
  readonly samples: Sample[];
  /** Server calls per client call − 1, per tail sample (`target#round`). */
  readonly extra: Map<string, number>;
  readonly h2: H2Sample[];
  /** Per round: the host's 1-minute load average at its start, and the largest share of the proxy's core that processes other than Outrider took during one of its gRPC runs. */
  readonly host: { load: number; othersOnProxyCore: number }[];
}

const rateOf = (t: GrpcTarget): number => (t.group === 'latency' ? LATENCY_RATE : HEDGE_RATE);

async function measureGrpc(ctx: ScenarioContext, load: GrpcLoad, t: GrpcTarget, round: number): Promise<Sample> {
  const { profile } = ctx;
  const rate = rateOf(t);
  return measuredSample(t, round, rate, profile, async () => ({
    streams: [
      await load.run({
        label: `grpc ${t.name} ${rate}/s`,
        target: `127.0.0.1:${t.run.port}`,
        service: t.service,
        rate,
        warmupMs: profile.warmupMs,
        durationMs: profile.durationMs,
        maxCalls: Math.ceil((rate * (profile.warmupMs + profile.durationMs + 1000)) / 1000),
        deadlineMs: DEADLINE_MS,
        payloadBytes: PAYLOAD_BYTES,
      }),
    ],
  }));
}

async function warmUp(ctx: ScenarioContext, load: GrpcLoad, grpcTargets: readonly GrpcTarget[], h2Targets: readonly { name: string; url: string }[]): Promise<void> {
  const ms = ctx.profile.processWarmupMs;
  for (const t of grpcTargets) {
    // At the run's rate: the p90 hedges need their 20 samples, and no more load than measured.
    const rate = rateOf(t);
    await load.run({ label: `warm-up ${t.name}`, target: `127.0.0.1:${t.run.port}`, service: t.service, rate, warmupMs: 0, durationMs: ms, maxCalls: Math.ceil((rate * (ms + 1000)) / 1000), deadlineMs: DEADLINE_MS, payloadBytes: PAYLOAD_BYTES });
  }
  for (const t of h2Targets) await h2loadRun(t.url, { ...H2, warmupMs: 0, durationMs: ms });
}

async function runRounds(
  ctx: ScenarioContext,
  load: GrpcLoad,
  echo: GrpcEcho,
  rounds: number,
  grpcTargets: readonly GrpcTarget[],
  h2Targets: readonly { name: string; url: string }[],
  outrider: RunningOutrider,
  dead: Map<string, string>,
): Promise<Measured> {
  const samples: Sample[] = [];
  const extra = new Map<string, number>();
  const h2: H2Sample[] = [];
  const noteDeath = (): boolean => {
    const died = outrider.died();
    if (died && !dead.has('outrider')) {
      dead.set('outrider', died);
      ctx.log(`  ${died}`);
    }
    return died !== undefined;
  };
  const alive = (viaOutrider: boolean): boolean => !viaOutrider || !dead.has('outrider');
  const host: Measured['host'] = [];
  for (let round = 0; round < rounds; round++) {
    host[round] = { load: round3(os.loadavg()[0] ?? NaN), othersOnProxyCore: NaN };
    ctx.log(`  round ${round + 1}/${rounds} (host load ${fmt(host[round]?.load)})`);
    for (const group of ['latency', 'tail'] as const) {
      for (const t of rotate(grpcTargets.filter((x) => x.group === group), round)) {
        if (!alive(t.viaOutrider)) continue;
        if (group === 'tail') await echo.stats(true);
        const before = proxyCore(outrider.pid);
        const sample = await measureGrpc(ctx, load, t, round);
        const others = othersShare(before, proxyCore(outrider.pid));
        const seen = host[round]?.othersOnProxyCore ?? NaN;
        if (others !== undefined) host[round] = { load: host[round]?.load ?? NaN, othersOnProxyCore: round3(Number.isFinite(seen) ? Math.max(seen, others) : others) };
        samples.push(sample);
        if (group === 'tail') {
          const calls = (await echo.stats(true))[t.service] ?? 0;
          const issued = (sample.stream as GrpcResult).issued;
          if (issued > 0) extra.set(`${t.name}#${round}`, calls / issued - 1);
        }
        if (t.viaOutrider) noteDeath();
      }
    }
    for (const t of rotate(h2Targets, round)) {
      const viaOutrider = t.name === 'outrider';
      if (!alive(viaOutrider)) continue;
      const ran = await h2loadRun(t.url, { ...H2, warmupMs: ctx.profile.warmupMs, durationMs: ctx.profile.durationMs });
      if (ran) h2.push({ target: t.name, round, result: ran.result, ...(ran.result ? {} : { error: ran.output.trim().split('\n').slice(-3).join(' | ').slice(0, 300) }) });
      if (viaOutrider) noteDeath();
    }
    const echoDied = echo.died();
    if (echoDied) throw new Error(`the gRPC echo server died: ${echoDied}`);
  }
  return { samples, extra, h2, host };
}

const round3 = (x: number): number => Math.round(x * 1000) / 1000;

interface CoreReading {
  readonly at: number;
  readonly busy: number;
  readonly outrider: number;
}

/** The proxy's core's busy time and Outrider's CPU time, now (undefined when not pinned or no /proc). */
function proxyCore(pid: number): CoreReading | undefined {
  if (!pinningAvailable()) return undefined;
  const busy = coreBusySeconds(Number(coreOf('proxy')));
  const outrider = cpuSeconds(pid);
  return busy === undefined || outrider === undefined ? undefined : { at: performance.now(), busy, outrider };
}

/** Share (0-1) of the proxy's core that other processes than Outrider kept busy between two readings. */
function othersShare(a: CoreReading | undefined, b: CoreReading | undefined): number | undefined {
  if (!a || !b || b.at <= a.at) return undefined;
  return Math.max(0, (b.busy - a.busy - (b.outrider - a.outrider)) / ((b.at - a.at) / 1000));
}

const p50 = (s: Sample): number => s.stream.latency.p50;
const p99 = (s: Sample): number => s.stream.latency.p99;
const p999 = (s: Sample): number => s.stream.latency.p999;

function countOf(samples: readonly Sample[], pick: (kind: string) => boolean): number {
  let n = 0;
  for (const s of samples) for (const [kind, c] of Object.entries(s.stream.outcomes)) if (pick(kind)) n += c;
  return n;
}

/** What did not come back OK over a target's samples, as "UNAVAILABLE:bulkhead-full 3, mismatch 1" (or ''). */
function failureText(samples: readonly Sample[]): string {
  const counts = new Map<string, number>();
  for (const s of samples) for (const [kind, n] of Object.entries(s.stream.outcomes)) if (kind !== 'OK') counts.set(kind, (counts.get(kind) ?? 0) + n);
  return [...counts].map(([k, n]) => `${k} ${n}`).join(', ');
}

interface GrpcSummary {
  readonly target: string;
  readonly group: 'latency' | 'tail';
  readonly rate: number;
  readonly p50: number;
  readonly p99: number;
  readonly p999: number;
  /** Latency group: added over direct; tail group: added over tail-direct (paired per round). */
  readonly addedP50: number;
  readonly addedP99: number;
  /** Tail group: tail-no-hedge p99 ÷ this p99, paired per round. */
  readonly p99Gain: number;
  readonly p999Gain: number;
  /** Tail group: calls the server received per call made, minus one (hedges). */
  readonly extraCalls: number;
  readonly cpuSecondsPer10k: number;
  readonly ok: number;
  readonly failed: number;
  readonly failures: string;
}

function ratiosOf(samples: readonly Sample[], a: string, b: string, rate: number, pick: (s: Sample) => number): number[] {
  return find(samples, a, rate).flatMap((s) => {
    const base = find(samples, b, rate, s.pass)[0];
    return base && pick(s) > 0 ? [pick(base) / pick(s)] : [];
  });
}

function summarizeGrpc(m: Measured, t: GrpcTarget): GrpcSummary {
  const rate = rateOf(t);
  const mine = find(m.samples, t.name, rate);
  const base = t.group === 'latency' ? 'direct' : 'tail-direct';
  const failures = failureText(mine);
  return {
    target: t.name,
    group: t.group,
    rate,
    p50: round(medianOf(mine, p50), 3),
    p99: round(medianOf(mine, p99), 3),
    p999: round(medianOf(mine, p999), 3),
    addedP50: round(median(pairedDiffs(m.samples, t.name, base, rate, p50)), 3),
    addedP99: round(median(pairedDiffs(m.samples, t.name, base, rate, p99)), 3),
    p99Gain: t.group === 'tail' ? round(median(ratiosOf(m.samples, t.name, 'tail-no-hedge', rate, p99)), 2) : NaN,
    p999Gain: t.group === 'tail' ? round(median(ratiosOf(m.samples, t.name, 'tail-no-hedge', rate, p999)), 2) : NaN,
    extraCalls: t.group === 'tail' ? round(median([...m.extra].filter(([k]) => k.startsWith(`${t.name}#`)).map(([, v]) => v)), 4) : NaN,
    cpuSecondsPer10k: round(medianOf(mine, (s) => s.cpuSecondsPer10k), 3),
    ok: countOf(mine, (k) => k === 'OK'),
    failed: countOf(mine, (k) => k !== 'OK'),
    failures,
  };
}

interface H2Summary {
  readonly target: string;
  readonly rps: number;
  readonly protocols: string;
  readonly succeeded: number;
  /** h2load's failed, errored and timed-out requests, and answers other than 2xx. */
  readonly failed: number;
  readonly errors: string;
}

function summarizeH2(h2: readonly H2Sample[], target: string): H2Summary {
  const mine = h2.filter((s) => s.target === target);
  const results = mine.flatMap((s) => (s.result ? [s.result] : []));
  return {
    target,
    rps: round(median(results.map((r) => r.rps)), 0),
    protocols: [...new Set(results.map((r) => r.protocol ?? '?'))].join(', '),
    succeeded: results.reduce((n, r) => n + r.succeeded, 0),
    failed: results.reduce((n, r) => n + r.failed + r.statusOther, 0),
    errors: mine.flatMap((s) => (s.error ? [s.error] : [])).join('; '),
  };
}

/** Outrider ÷ nginx req/s within each round. */
function h2Ratios(h2: readonly H2Sample[]): number[] {
  return h2.flatMap((s) => {
    if (s.target !== 'outrider' || !s.result) return [];
    const other = h2.find((o) => o.target === 'nginx' && o.round === s.round)?.result;
    return other && other.rps > 0 ? [s.result.rps / other.rps] : [];
  });
}

function latencyTable(summaries: readonly GrpcSummary[]): Table {
  return {
    title: `Unary gRPC calls at ${LATENCY_RATE}/s, ${PAYLOAD_BYTES}-byte echo answered at once (ms; "+" = added over direct, paired per round, median of rounds)`,
    columns: ['target', 'p50', 'p99', 'p99.9', '+p50', '+p99', 'Outrider CPU s/10k calls', 'OK', 'failed'],
    rows: summaries
      .filter((s) => s.group === 'latency')
      .map((s) => [s.target, fmt(s.p50), fmt(s.p99), fmt(s.p999), s.target === 'direct' ? '' : signed(s.addedP50), s.target === 'direct' ? '' : signed(s.addedP99), s.target === 'direct' ? '' : fmt(s.cpuSecondsPer10k, 3), String(s.ok), s.failures === '' ? '0' : `${s.failed} (${s.failures})`]),
    note: `@grpc/grpc-js client (one channel, h2c; open loop, latency from each call's intended time) and server. outrider: a route without patterns; outrider-patterns: retry (on grpc:unavailable, connect-failure), hedge (after p90), circuit breaker, bulkhead (1000).`,
  };
}

function tailTable(summaries: readonly GrpcSummary[]): Table {
  return {
    title: `Hedging on a tail-heavy gRPC server (${TAIL.ratio * 100}% of calls ${TAIL.slowMs} ms, the rest ${TAIL.fastMs} ms) at ${HEDGE_RATE} calls/s (ms, median of rounds)`,
    columns: ['target', 'p50', 'p99', 'p99.9', 'p99 gain', 'p99.9 gain', 'extra server calls', 'OK', 'failed'],
    rows: summaries
      .filter((s) => s.group === 'tail')
      .map((s) => [
        s.target,
        fmt(s.p50),
        fmt(s.p99),
        fmt(s.p999),
        s.target === 'tail-hedge' || s.target === 'tail-direct' ? `${fmt(s.p99Gain)}x` : '',
        s.target === 'tail-hedge' || s.target === 'tail-direct' ? `${fmt(s.p999Gain)}x` : '',
        `${fmt(s.extraCalls * 100, 1)}%`,
        String(s.ok),
        s.failures === '' ? '0' : `${s.failed} (${s.failures})`,
      ]),
    note: `gain = tail-no-hedge's percentile ÷ this target's, paired per round. tail-hedge: hedge after the route's p90, at most 2 copies, budget ${HEDGE_BUDGET * 100}%. Extra server calls: calls the server received ÷ calls the client made, − 1.`,
  };
}

function h2Table(summaries: readonly H2Summary[], ratios: readonly number[], nginx: string): Table {
  return {
    title: `HTTP/2 throughput, h2load -t1 -c${H2.connections} -m${H2.streams} (h2c, closed loop) to the same upstream (req/s, median of rounds)`,
    columns: ['target', 'protocol', 'req/s', 'succeeded', 'failed or not 2xx'],
    rows: summaries.map((s) => [s.target, s.protocols, fmt(s.rps, 0), String(s.succeeded), String(s.failed)]),
    note: `Outrider ÷ nginx per round: ${ratios.map((r) => fmt(r)).join(', ') || '—'}; median ${fmt(median([...ratios]))}. ${nginx}`,
  };
}

function perRoundTable(m: Measured, rounds: number): Table {
  const ratios = h2Ratios(m.h2);
  const rows = Array.from({ length: rounds }, (_, r) => {
    const only = m.samples.filter((s) => s.pass === r);
    const d = (target: string, pick: (s: Sample) => number): string => signed(pairedDiffs(only, target, 'direct', LATENCY_RATE, pick)[0]);
    const gain = ratiosOf(only, 'tail-hedge', 'tail-no-hedge', HEDGE_RATE, p99)[0];
    const ratio = m.h2.filter((s) => s.round === r);
    const host = m.host[r];
    return [String(r + 1), d('outrider', p50), d('outrider', p99), d('outrider-patterns', p50), d('outrider-patterns', p99), gain === undefined ? '—' : `${fmt(gain)}x`, fmt(h2Ratios(ratio)[0]), fmt(host?.load), host && Number.isFinite(host.othersOnProxyCore) ? `${fmt(host.othersOnProxyCore * 100, 0)}%` : '—'];
  });
  return {
    title: "Per round (ms added over direct in the same round; hedge p99 gain; h2 req/s Outrider ÷ nginx; the host's load)",
    columns: ['round', 'outrider +p50', '+p99', 'patterns +p50', '+p99', 'hedge p99 gain', 'h2 ÷ nginx', 'host load (1 min)', 'others on the proxy core'],
    rows,
    note: `Host load: the 1-minute load average as the round began (2 cores). Others on the proxy core: the largest share of core ${coreOf('proxy')} that processes other than Outrider kept busy during one of the round's gRPC runs (taskset keeps our processes off it, not the rest of the machine's).${ratios.length === 0 ? ' h2: not measured (h2load or nginx missing).' : ''}`,
  };
}

function charts(m: Measured, summaries: readonly GrpcSummary[], h2: readonly H2Summary[]): Chart[] {
  const spectrumOf = (group: 'latency' | 'tail', title: string): Chart => ({
    kind: 'spectrum',
    title,
    series: summaries.filter((s) => s.group === group).map((s) => ({ label: s.target, points: spectrum(mergeEncoded(find(m.samples, s.target, s.rate).map((x) => x.stream.histogram))) })),
  });
  return [
    spectrumOf('latency', `Unary gRPC call latency at ${LATENCY_RATE}/s (all rounds merged)`),
    spectrumOf('tail', `Tail-heavy gRPC server at ${HEDGE_RATE}/s, with and without hedging (all rounds merged)`),
    { kind: 'bars', title: 'HTTP/2 (h2c) req/s, h2load (median of rounds)', unit: 'req/s', labels: h2.map((s) => s.target), series: [{ label: `${H2.connections} connections × ${H2.streams} streams`, values: h2.map((s) => (Number.isFinite(s.rps) ? s.rps : null)) }] },
  ];
}

/** Above 1% of calls not OK, a latency figure fails whatever it is. */
function guard(check: Check, summaries: readonly (GrpcSummary | undefined)[]): Check {
  const worst = Math.max(0, ...summaries.map((s) => (s && s.ok + s.failed > 0 ? s.failed / (s.ok + s.failed) : 0)));
  if (worst <= 0.01) return check;
  return { ...check, value: `${check.value} with ${(worst * 100).toFixed(1)}% of calls failing`, pass: false };
}

interface CheckInput {
  readonly summaries: readonly GrpcSummary[];
  readonly h2: readonly H2Summary[];
  readonly h2Ratio: number;
  readonly h2Why: string | undefined;
  readonly nginxProtocol: string | undefined;
  readonly dead: ReadonlyMap<string, string>;
}

function checks({ summaries, h2, h2Ratio, h2Why, nginxProtocol, dead }: CheckInput): Check[] {
  const by = (name: string): GrpcSummary | undefined => summaries.find((s) => s.target === name);
  const [direct, plain, patterns, tailDirect, tailNone, tailHedge] = ['direct', 'outrider', 'outrider-patterns', 'tail-direct', 'tail-no-hedge', 'tail-hedge'].map(by);
  const crash = dead.get('outrider');
  const answered = (list: readonly (GrpcSummary | undefined)[]): string =>
    list.map((s) => (s ? `${s.target} ${s.ok} OK, ${s.failed} failed${s.failures ? ` (${s.failures})` : ''}` : 'not measured')).join('; ');
  const allOk = (list: readonly (GrpcSummary | undefined)[]): boolean => list.every((s) => s !== undefined && s.ok > 0 && s.failed === 0);
  const functional: Check[] = [
    {
      name: 'Outrider answered every unary gRPC call with its own echo (route without patterns, and with retry, hedge, breaker, bulkhead), and stayed up',
      target: '> 0 OK, 0 failed or mismatched, no crash',
      value: crash ? `crashed: ${crash.slice(0, 200)}` : answered([plain, patterns]),
      pass: !crash && allOk([plain, patterns]),
      source: 'ours',
      issue: 14,
      functional: true,
    },
    {
      name: 'Outrider answered every call to the tail-heavy server, with and without hedging',
      target: '> 0 OK, 0 failed or mismatched',
      value: answered([tailNone, tailHedge]),
      pass: !crash && allOk([tailNone, tailHedge]),
      source: 'ours',
      issue: 14,
      functional: true,
    },
    {
      name: 'hedging applies to unary gRPC calls (the server received copies on the hedge route)',
      target: '> 0% extra server calls',
      value: tailHedge ? `${fmt(tailHedge.extraCalls * 100, 1)}% extra calls` : 'not measured',
      pass: tailHedge !== undefined && Number.isFinite(tailHedge.extraCalls) ? tailHedge.extraCalls > 0 : false,
      source: 'ours',
      issue: 14,
      functional: true,
    },
  ];
  const o2 = h2.find((s) => s.target === 'outrider');
  // Functional only when h2load is there to measure it: a missing peer fails nothing.
  if (h2Why === undefined || o2) {
    const measured = o2 !== undefined && o2.succeeded + o2.failed > 0;
    functional.push({
      name: 'Outrider served HTTP/2 with prior knowledge (h2c) to h2load: every request 2xx',
      target: 'h2c, > 0 succeeded, 0 failed or not 2xx',
      value: !measured ? `not measured${o2?.errors ? `: ${o2.errors}` : ''}` : `${o2.protocols}, ${o2.succeeded} succeeded, ${o2.failed} failed or not 2xx`,
      pass: measured && o2.protocols === 'h2c' && o2.succeeded > 0 && o2.failed === 0,
      source: 'ours',
      issue: 14,
      functional: true,
    });
  }
  const harness: Check[] = [
    { name: 'direct: the gRPC client and server agree (every call OK)', target: '> 0 OK, 0 failed', value: answered([direct, tailDirect]), pass: direct && tailDirect ? allOk([direct, tailDirect]) : null, source: 'harness' },
  ];
  const tailShowed = tailNone !== undefined && tailNone.p99 >= TAIL.slowMs;
  harness.push({ name: 'the tail shows without hedging (tail-no-hedge p99)', target: `≥ ${TAIL.slowMs} ms (else the hedge gains are inconclusive)`, value: `${fmt(tailNone?.p99)} ms`, pass: tailNone && Number.isFinite(tailNone.p99) ? tailShowed : null, source: 'harness' });
  const measured: Check[] = [];
  const latency = (name: string, s: GrpcSummary | undefined, pick: 'addedP50' | 'addedP99', limit: number): Check => {
    const v = s?.[pick];
    const base = { name, target: `≤ ${limit} ms`, source: 'ours' as const, issue: 14 };
    if (v === undefined || !Number.isFinite(v)) return { ...base, value: 'not measured', pass: null };
    // Vacuous when the direct calls behind the difference failed.
    if (!direct || direct.failed > 0 || direct.ok === 0) return { ...base, value: `${signed(v)} ms, inconclusive: direct calls failed`, pass: null };
    return guard({ ...base, value: `${signed(v)} ms`, pass: v <= limit }, [s]);
  };
  measured.push(
    latency(`added p50 at ${LATENCY_RATE} calls/s, route without patterns`, plain, 'addedP50', ADDED_P50_PLAIN_MS),
    latency(`added p50 at ${LATENCY_RATE} calls/s, route with retry, hedge, breaker, bulkhead`, patterns, 'addedP50', ADDED_P50_PATTERNS_MS),
    latency(`added p99 at ${LATENCY_RATE} calls/s, route without patterns`, plain, 'addedP99', ADDED_P99_MS),
    latency(`added p99 at ${LATENCY_RATE} calls/s, route with retry, hedge, breaker, bulkhead`, patterns, 'addedP99', ADDED_P99_MS),
  );
  const gain = (atLeast: number): Check => {
    const base = { name: 'hedge: p99 gain on the tail-heavy server (no-hedge p99 ÷ hedge p99)', target: `≥ ${atLeast}x`, source: 'ours' as const, issue: 14 };
    const v = tailHedge?.p99Gain;
    if (v === undefined || !Number.isFinite(v)) return { ...base, value: 'not measured', pass: null };
    if (!tailShowed) return { ...base, value: `${fmt(v)}x, inconclusive: no tail to cut`, pass: null };
    return guard({ ...base, value: `${fmt(v)}x (p99 ${fmt(tailNone?.p99)} → ${fmt(tailHedge?.p99)} ms)`, pass: v >= atLeast }, [tailNone, tailHedge]);
  };
  measured.push(gain(HEDGE_GAIN), gain(HEDGE_GAIN_OURS));
  const extra = tailHedge?.extraCalls;
  measured.push(
    extra === undefined || !Number.isFinite(extra)
      ? { name: 'hedge: extra calls on the server', target: `≤ ${HEDGE_BUDGET * 100}% (the budget)`, value: 'not measured', pass: null, source: 'ours', issue: 14 }
      : { name: 'hedge: extra calls on the server', target: `≤ ${HEDGE_BUDGET * 100}% (the budget)`, value: `${fmt(extra * 100, 1)}%`, pass: extra <= HEDGE_BUDGET, source: 'ours', issue: 14 },
  );
  const ratioName = 'HTTP/2 (h2c) req/s ÷ nginx (h2load)';
  const n2 = h2.find((s) => s.target === 'nginx');
  if (!Number.isFinite(h2Ratio)) measured.push({ name: ratioName, target: `≥ ${H2_RATIO}`, value: h2Why ?? 'not measured', pass: null, source: 'ours', issue: 14 });
  else if (nginxProtocol !== 'h2c') measured.push({ name: ratioName, target: `≥ ${H2_RATIO}`, value: `${fmt(h2Ratio)}x, inconclusive: nginx spoke ${nginxProtocol ?? '?'}`, pass: null, source: 'ours', issue: 14 });
  else {
    const failing = (o2?.failed ?? 0) + (n2?.failed ?? 0) > 0;
    measured.push({ name: ratioName, target: `≥ ${H2_RATIO}`, value: `${fmt(h2Ratio)}x (${fmt(o2?.rps, 0)} ÷ ${fmt(n2?.rps, 0)} req/s)${failing ? ', with failed requests' : ''}`, pass: h2Ratio >= H2_RATIO && !failing, source: 'ours', issue: 14 });
  }
  const all = crash ? measured.map((c) => ({ ...c, value: `${c.value}; Outrider crashed: ${crash.slice(0, 200)}`, pass: false })) : measured;
  return [...functional, ...harness, ...all];
}

function asRunning(o: RunningOutrider, port: number): Running {
  return { ok: true, port, pid: o.pid, readyMs: o.readyMs, stop: () => o.stop().then(() => undefined), died: () => o.died() };
}

export const grpc: Scenario = {
  name: 'grpc',
  title: 'gRPC and HTTP/2: added latency of unary calls, hedging on a tail-heavy server, h2c throughput vs nginx',
  async run(ctx) {
    const rounds = Math.max(ctx.profile.passes, ROUNDS[ctx.profile.name]);
    const [grpcPort, webPort, listenPort, adminPort, nginxPort, nginxProbePort] = (await freePorts(6)) as [number, number, number, number, number, number];
    const echo = await GrpcEcho.start({
      port: grpcPort,
      seed: 1400,
      services: {
        [SERVICE.plain]: { kind: 'instant' },
        [SERVICE.patterns]: { kind: 'instant' },
        [SERVICE.tailNone]: { kind: 'tail', ...TAIL },
        [SERVICE.tailHedge]: { kind: 'tail', ...TAIL },
      },
    });
    const stoppers: (() => Promise<unknown>)[] = [() => echo.close()];
    const stopAll = async (): Promise<void> => {
      for (const stop of stoppers.reverse()) await stop();
    };
    try {
      const web = await startUpstream(webPort);
      stoppers.push(() => web.stop());
      ctx.log(`  gRPC upstream: @grpc/grpc-js echo server; HTTP upstream: ${web.kind}`);
      const outrider = await startOutrider('outrider-grpc', policy(adminPort, listenPort, grpcPort, webPort), adminPort, { cpuProfDir: ctx.cpuProfDir });
      if (!outrider.ok) return skipped(outrider.reason);
      stoppers.push(() => outrider.stop());
      ctx.log(`  outrider: ready in ${outrider.readyMs} ms`);
      for (const [route, layers] of Object.entries(NEEDS)) {
        const has = await outrider.layers(route);
        if (has === undefined) return skipped(`GET /status does not list the layers of route "${route}"`);
        const missing = layers.filter((l) => !has.includes(l));
        if (missing.length > 0) return skipped(`route "${route}": the ${missing.join(', ')} layer(s) not in GET /status`);
      }
      const h2Missing: string[] = [];
      if (!h2loadInstalled()) h2Missing.push('h2load not installed (bench/install-peers.sh: nghttp2-client)');
      let nginxNote = '';
      const h2Targets: { name: string; url: string }[] = [];
      if (h2Missing.length === 0) {
        h2Targets.push({ name: 'outrider', url: `http://127.0.0.1:${listenPort}/h2` });
        const nginx: Started = await startNginxH2cProxy(nginxPort, nginxProbePort, webPort);
        const version = nginxVersion();
        if (nginx.ok) {
          stoppers.push(() => nginx.stop());
          h2Targets.push({ name: 'nginx', url: `http://127.0.0.1:${nginxPort}/h2` });
          nginxNote = `nginx ${version?.join('.') ?? '?'}: h2c by ${h2cByHttp2On(version) ? '`http2 on;`' : '`listen … http2` (how releases before 1.25.1 turn it on)'}, HTTP/1.1 with keep-alive to the upstream.`;
          ctx.log(`  nginx (h2c): ready in ${nginx.readyMs} ms`);
        } else {
          h2Missing.push(`nginx: ${nginx.reason}`);
          ctx.log(`  nginx (h2c): ${nginx.reason}`);
        }
      }
      const load = await GrpcLoad.start();
      stoppers.push(() => load.close());
      const grpcTargets: GrpcTarget[] = [
        { name: 'direct', group: 'latency', service: SERVICE.plain, run: directTarget(grpcPort), viaOutrider: false },
        { name: 'outrider', group: 'latency', service: SERVICE.plain, run: asRunning(outrider, listenPort), viaOutrider: true },
        { name: 'outrider-patterns', group: 'latency', service: SERVICE.patterns, run: asRunning(outrider, listenPort), viaOutrider: true },
        { name: 'tail-direct', group: 'tail', service: SERVICE.tailNone, run: directTarget(grpcPort), viaOutrider: false },
        { name: 'tail-no-hedge', group: 'tail', service: SERVICE.tailNone, run: asRunning(outrider, listenPort), viaOutrider: true },
        { name: 'tail-hedge', group: 'tail', service: SERVICE.tailHedge, run: asRunning(outrider, listenPort), viaOutrider: true },
      ];
      await warmUp(ctx, load, grpcTargets, h2Targets);
      const dead = new Map<string, string>();
      const m = await runRounds(ctx, load, echo, rounds, grpcTargets, h2Targets, outrider, dead);
      const summaries = grpcTargets.map((t) => summarizeGrpc(m, t));
      const h2 = h2Targets.map((t) => summarizeH2(m.h2, t.name));
      const ratios = h2Ratios(m.h2);
      const h2Ratio = round(median(ratios), 4);
      const nginxProtocol = h2.find((s) => s.target === 'nginx')?.protocols;
      const tables: Table[] = [latencyTable(summaries), tailTable(summaries), ...(h2Targets.length > 0 ? [h2Table(h2, ratios, nginxNote)] : []), perRoundTable(m, rounds)];
      const notes = [...h2Missing.map((why) => ['h2', why]), ...dead];
      if (notes.length > 0) tables.push({ title: 'Not measured, or died during the run', columns: ['target', 'why'], rows: notes.map(([a, b]) => [a as string, b as string]) });
      return {
        status: 'ok',
        tables,
        charts: charts(m, summaries, h2),
        checks: checks({ summaries, h2, h2Ratio, h2Why: h2Missing.length > 0 ? h2Missing.join('; ') : undefined, nginxProtocol, dead }),
        data: {
          rounds,
          rates: { latency: LATENCY_RATE, hedge: HEDGE_RATE },
          payloadBytes: PAYLOAD_BYTES,
          tail: TAIL,
          hedgeBudget: HEDGE_BUDGET,
          h2load: { ...H2, installed: h2loadInstalled() },
          httpUpstream: web.kind,
          nginx: nginxVersion()?.join('.') ?? null,
          outriderBuilt: outriderBuilt(),
          policy: policy(adminPort, listenPort, grpcPort, webPort),
          notMeasured: Object.fromEntries(notes),
          summaries,
          h2Summaries: h2,
          h2Ratios: ratios.map((r) => round(r, 4)),
          h2Samples: m.h2,
          host: m.host,
          extraCalls: Object.fromEntries([...m.extra].map(([k, v]) => [k, round(v, 4)])),
          samples: m.samples.map(({ stream, ...rest }) => ({ ...rest, latency: stream.latency, service: stream.service, achievedRps: stream.achievedRps, outcomes: stream.outcomes, issued: (stream as GrpcResult).issued })),
        },
      };
    } finally {
      await stopAll();
    }
  },
};
