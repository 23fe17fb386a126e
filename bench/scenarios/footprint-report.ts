/**
 * The footprint scenario's figures, tables and verdicts (issue 16's targets), from its runs.
 * Every comparison is paired within a pass, then the median over passes is taken.
 */
import type { AllocWindow } from '../lib/alloc.js';
import { fmt, median, round } from '../lib/stats.js';
import type { WrkResult } from '../lib/wrk.js';
import type { StreamResult } from '../loadgen/protocol.js';
import { CPU_RATE, LATENCY_RATE, PATTERNS_PATH, type Running } from './footprint.js';
import { guardFailures } from './pattern.js';
import type { Check, ScenarioContext, ScenarioOutcome, Table } from './types.js';

export interface FootprintTarget {
  readonly name: string;
  readonly kind: 'direct' | 'outrider' | 'peer';
  readonly run: Running;
  readonly idleRssMiB: number | undefined;
  /** Of it, private (anonymous) pages: bench/lib/procstat.ts, rssAnonMiB. */
  readonly idleAnonMiB: number | undefined;
}

export interface Run {
  readonly target: string;
  readonly pass: number;
  readonly mode: number | 'max';
  readonly route: string;
  readonly stream?: StreamResult;
  readonly cpuSecondsPer10k?: number | undefined;
  readonly wrk?: WrkResult;
  readonly peakRssMiB: number | undefined;
  readonly peakAnonMiB?: number | undefined;
  readonly alloc?: AllocWindow | undefined;
  /** The generator's warm-up and measured window (CPU and allocations span both). */
  readonly warmupMs?: number;
  readonly windowMs?: number;
}

export interface Footprint {
  readonly upstream: string;
  readonly targets: readonly FootprintTarget[];
  readonly runs: readonly Run[];
  readonly idle: readonly { target: string; wanted: number; opened: number; answered: number; rssBeforeMiB: number | undefined; rssMiB: number | undefined }[];
  readonly missing: ReadonlyMap<string, string>;
  readonly dead: ReadonlyMap<string, string>;
}

type Pick = (r: Run) => number | undefined;

const runsOf = (f: Footprint, target: string, mode: number | 'max', route = '/'): Run[] => f.runs.filter((r) => r.target === target && r.mode === mode && r.route === route);
const med = (runs: readonly Run[], pick: Pick): number => median(runs.map(pick).filter((v): v is number => v !== undefined && Number.isFinite(v)));

/** a's figure against b's in the same pass (b at its own mode and route), median over passes. */
function paired(f: Footprint, a: Run[], b: (r: Run) => Run | undefined, pick: Pick, op: (x: number, y: number) => number): number {
  return median(
    a.flatMap((r) => {
      const other = b(r);
      const x = pick(r);
      const y = other ? pick(other) : undefined;
      return x !== undefined && y !== undefined && Number.isFinite(x) && Number.isFinite(y) && y !== 0 ? [op(x, y)] : [];
    }),
  );
}
const ratio = (x: number, y: number): number => x / y;
const minus = (x: number, y: number): number => x - y;

/** Requests over the whole run (warm-up included), as the CPU and allocation windows span it. */
function requestsOf(r: Run): number | undefined {
  const s = r.stream;
  if (!s || s.completed === 0 || !r.windowMs) return undefined;
  return s.completed * (((r.warmupMs ?? 0) + r.windowMs) / r.windowMs);
}
const cpuUs: Pick = (r) => (r.cpuSecondsPer10k === undefined ? undefined : r.cpuSecondsPer10k * 100);
const allocBytes: Pick = (r) => (r.alloc && requestsOf(r) ? r.alloc.allocatedBytes / (requestsOf(r) as number) : undefined);
const scavengesPer10k: Pick = (r) => (r.alloc && requestsOf(r) ? (r.alloc.gcCount / (requestsOf(r) as number)) * 10_000 : undefined);
const gcShare: Pick = (r) => (r.alloc && r.alloc.cpuMicros > 0 ? (r.alloc.gcMicros / r.alloc.cpuMicros) * 100 : undefined);
const wrkRps: Pick = (r) => r.wrk?.rps;
const p = (q: 'p50' | 'p99'): Pick => (r) => r.stream?.latency[q];

export interface Summary {
  readonly target: string;
  readonly idleRssMiB: number | undefined;
  readonly rssAt5kMiB: number;
  readonly idleAnonMiB: number | undefined;
  readonly anonAt5kMiB: number;
  readonly addedP50: number;
  readonly addedP99: number;
  readonly cpuUsPerRequest: number;
  readonly cpuUsPerRequestPatterns: number;
  readonly allocBytesPerRequest: number;
  readonly allocBytesPerRequestPatterns: number;
  readonly scavengesPer10k: number;
  readonly gcPercentOfCpu: number;
  readonly wrkRps: number;
  readonly rpsOverUndici: number;
  /** Against the pass-through on the machine's Node (NaN when that is the image's): the setup issue 16's own figures came from. */
  readonly rpsOverUndiciMachine: number;
  readonly rpsOverNginx: number;
  readonly cpuOverUndici: number;
  readonly patternsCpuOverPlain: number;
  readonly failed: number;
}

function summarize(f: Footprint, t: FootprintTarget, undici: string, nginx: string, undiciMachine: string | undefined): Summary {
  const at1k = runsOf(f, t.name, LATENCY_RATE);
  const at5k = runsOf(f, t.name, CPU_RATE);
  const patterns = runsOf(f, t.name, CPU_RATE, PATTERNS_PATH);
  const max = runsOf(f, t.name, 'max');
  const samePass = (target: string, mode: number | 'max', route = '/') => (r: Run): Run | undefined => runsOf(f, target, mode, route).find((o) => o.pass === r.pass);
  const failed = f.runs.filter((r) => r.target === t.name).reduce((n, r) => n + Object.entries(r.stream?.outcomes ?? {}).reduce((m, [k, v]) => m + (k === '2xx' ? 0 : v), 0) + (r.wrk?.non2xx ?? 0), 0);
  return {
    target: t.name,
    idleRssMiB: t.idleRssMiB,
    rssAt5kMiB: round(med(at5k, (r) => r.peakRssMiB), 1),
    idleAnonMiB: t.idleAnonMiB,
    anonAt5kMiB: round(med(at5k, (r) => r.peakAnonMiB), 1),
    addedP50: round(paired(f, at1k, samePass('direct', LATENCY_RATE), p('p50'), minus), 3),
    addedP99: round(paired(f, at1k, samePass('direct', LATENCY_RATE), p('p99'), minus), 3),
    cpuUsPerRequest: round(med(at5k, cpuUs), 1),
    cpuUsPerRequestPatterns: round(med(patterns, cpuUs), 1),
    allocBytesPerRequest: round(med(at5k, allocBytes), 0),
    allocBytesPerRequestPatterns: round(med(patterns, allocBytes), 0),
    scavengesPer10k: round(med(at5k, scavengesPer10k), 1),
    gcPercentOfCpu: round(med(at5k, gcShare), 1),
    wrkRps: round(med(max, wrkRps), 0),
    rpsOverUndici: round(paired(f, max, samePass(undici, 'max'), wrkRps, ratio), 3),
    rpsOverNginx: round(paired(f, max, samePass(nginx, 'max'), wrkRps, ratio), 3),
    rpsOverUndiciMachine: undiciMachine === undefined ? NaN : round(paired(f, max, samePass(undiciMachine, 'max'), wrkRps, ratio), 3),
    cpuOverUndici: round(paired(f, at5k, samePass(undici, CPU_RATE), cpuUs, ratio), 3),
    patternsCpuOverPlain: round(paired(f, patterns, samePass(t.name, CPU_RATE), cpuUs, ratio), 3),
    failed,
  };
}

const kib = (bytes: number): string => (Number.isFinite(bytes) ? `${fmt(bytes / 1024, 1)}` : '—');

function tables(summaries: readonly Summary[], f: Footprint, first: Summary, others: readonly Summary[], undiciMachine: string | undefined): Table[] {
  const proxies = summaries.filter((s) => s.target !== 'direct');
  const out: Table[] = [
    {
      title: `Latency and throughput (added over direct at ${LATENCY_RATE} req/s, paired per pass; wrk -t1 -c50 on one core)`,
      columns: ['target', '+p50 ms', '+p99 ms', 'wrk req/s', '÷ undici', '÷ nginx', ...(undiciMachine ? [`÷ ${undiciMachine}`] : []), 'failed'],
      rows: proxies.map((s) => [s.target, fmt(s.addedP50), fmt(s.addedP99), fmt(s.wrkRps, 0), fmt(s.rpsOverUndici), fmt(s.rpsOverNginx), ...(undiciMachine ? [fmt(s.rpsOverUndiciMachine)] : []), String(s.failed)]),
      note: `Upstream: ${f.upstream}. ÷ columns are paired per pass with the peer of the same run.${undiciMachine ? ` ÷ undici is the pass-through on the same Node as Outrider (the verdict); ÷ ${undiciMachine} is the same pass-through on the machine's Node, the setup of the figures issue 16 quotes.` : ''}`,
    },
    {
      title: `CPU and memory per request at ${CPU_RATE} req/s (no patterns / retry + hedge + breaker + bulkhead)`,
      columns: ['target', 'CPU µs/req', 'patterns', 'patterns ÷ plain', 'CPU ÷ undici', 'heap KiB/req', 'patterns', 'scavenges /10k', 'GC % of CPU', 'RSS idle MiB', `RSS @${CPU_RATE}/s`],
      rows: proxies.map((s) => [s.target, fmt(s.cpuUsPerRequest, 1), fmt(s.cpuUsPerRequestPatterns, 1), fmt(s.patternsCpuOverPlain), fmt(s.cpuOverUndici), kib(s.allocBytesPerRequest), kib(s.allocBytesPerRequestPatterns), fmt(s.scavengesPer10k, 1), fmt(s.gcPercentOfCpu, 1), fmt(s.idleRssMiB, 1), fmt(s.rssAt5kMiB, 1)]),
      note: 'Heap bytes from V8\'s GC profiler (bench/lib/alloc-probe.mjs), Outrider only; CPU from /proc over warm-up and window.',
    },
    {
      title: 'Memory: RSS and its private part (what a pod adds to a node)',
      columns: ['target', 'RSS idle MiB', 'private idle', `RSS @${CPU_RATE}/s`, `private @${CPU_RATE}/s`],
      rows: proxies.map((s) => [s.target, fmt(s.idleRssMiB, 1), fmt(s.idleAnonMiB, 1), fmt(s.rssAt5kMiB, 1), fmt(s.anonAt5kMiB, 1)]),
      note: 'Private: anonymous pages (RssAnon in /proc/PID/status: the V8 heap, malloc, stacks). The rest of RSS is file pages, mostly the node binary\'s, which the page cache shares between every process mapping the same file (pods on a node running the same image layer).',
    },
  ];
  if (f.idle.length > 0) {
    out.push({
      title: 'Idle keep-alive client connections (one request answered on each, then held)',
      columns: ['target', 'connections', 'answered', 'RSS before → with them MiB', 'KiB per connection'],
      rows: f.idle.map((i) => [i.target, `${i.opened} of ${i.wanted}`, String(i.answered), `${fmt(i.rssBeforeMiB, 1)} → ${fmt(i.rssMiB, 1)}`, i.rssMiB !== undefined && i.rssBeforeMiB !== undefined && i.opened > 0 ? fmt(((i.rssMiB - i.rssBeforeMiB) * 1024) / i.opened, 1) : '—']),
    });
  }
  if (others.length > 0) {
    const vs = (o: Summary, pick: (s: Summary) => number): string => fmt(pick(first) / pick(o));
    out.push({
      title: `${first.target} against the other Outriders (ratios of medians; < 1 means ${first.target} uses less)`,
      columns: ['÷', 'wrk req/s', 'CPU/req', 'CPU/req patterns', 'heap/req', 'RSS idle', `RSS @${CPU_RATE}/s`],
      rows: others.map((o) => [o.target, vs(o, (s) => s.wrkRps), vs(o, (s) => s.cpuUsPerRequest), vs(o, (s) => s.cpuUsPerRequestPatterns), vs(o, (s) => s.allocBytesPerRequest), vs(o, (s) => s.idleRssMiB ?? NaN), vs(o, (s) => s.rssAt5kMiB)]),
    });
  }
  return out;
}

function checks(ctx: ScenarioContext, f: Footprint, o: Summary | undefined, hasPeer: (name: string) => boolean, undici: string, nginx: string): Check[] {
  const shipped = f.targets.find((t) => t.kind === 'outrider');
  const streams = f.runs.filter((r) => r.target === o?.target).map((r) => r.stream);
  const check = (name: string, target: string, value: number | undefined, pass: (v: number) => boolean, unit: string, needs?: string): Check => {
    const why = !o ? 'Outrider did not start' : needs && !hasPeer(needs) ? `${needs} not measured: ${f.missing.get(needs) ?? f.dead.get(needs) ?? 'not installed'}` : undefined;
    if (why || value === undefined || !Number.isFinite(value)) return { name, target, value: why ?? 'not measured', pass: null, source: 'ours', issue: 16 };
    return guardFailures({ name, target, value: `${fmt(value)}${unit}`, pass: pass(value), source: 'ours', issue: 16 }, streams);
  };
  const idle = f.idle.find((i) => i.target === o?.target);
  const crashed = o ? f.dead.get(o.target) : undefined;
  return [
    {
      name: "Outrider ran on the image's Node.js and answered every request",
      target: `Node ${ctx.runtimes.outrider.version}, 0 failed, no crash`,
      value: ctx.runtimes.shippedMissing ? `not the image's Node: ${ctx.runtimes.shippedMissing}` : !o || !shipped ? 'did not start' : crashed ? `crashed: ${crashed.slice(0, 200)}` : `${o.failed} failed`,
      pass: !ctx.runtimes.shippedMissing && o !== undefined && !crashed && o.failed === 0,
      source: 'ours',
      issue: 16,
      functional: true,
    },
    {
      name: 'idle keep-alive connections held and answered',
      target: `${idle?.wanted ?? '—'}`,
      value: idle ? `${idle.answered} answered of ${idle.opened} opened` : 'not measured',
      pass: idle ? idle.answered === idle.wanted : false,
      source: 'ours',
      issue: 16,
      functional: true,
    },
    check('max throughput ÷ bare undici pass-through (same Node, wrk)', '≥ 1.3', o?.rpsOverUndici, (v) => v >= 1.3, 'x', undici),
    check('max throughput ÷ nginx (wrk)', '≥ 0.4', o?.rpsOverNginx, (v) => v >= 0.4, 'x', nginx),
    check(`added p50 at ${LATENCY_RATE} req/s`, '≤ 0.3 ms', o?.addedP50, (v) => v <= 0.3, ' ms'),
    check(`added p99 at ${LATENCY_RATE} req/s`, '≤ 1 ms', o?.addedP99, (v) => v <= 1, ' ms'),
    check('RSS idle', '≤ 60 MiB', o?.idleRssMiB, (v) => v <= 60, ' MiB'),
    check(`RSS at ${CPU_RATE} req/s`, '≤ 90 MiB', o?.rssAt5kMiB, (v) => v <= 90, ' MiB'),
    check(`CPU per request at ${CPU_RATE} req/s ÷ bare undici`, '≤ 1.1', o?.cpuOverUndici, (v) => v <= 1.1, 'x', undici),
    check('CPU per request, retry + hedge + breaker + bulkhead ÷ no patterns', '≤ 1.15', o?.patternsCpuOverPlain, (v) => v <= 1.15, 'x'),
  ];
}

export function footprintResult(ctx: ScenarioContext, f: Footprint): ScenarioOutcome {
  const undici = `undici ${ctx.runtimes.outrider.label}`;
  const nginx = 'nginx';
  // The pass-through on the machine's Node, when that is another Node than Outrider's.
  const machinePeer = `undici ${ctx.runtimes.machine.label}`;
  const undiciMachine = machinePeer !== undici && f.targets.some((t) => t.name === machinePeer) ? machinePeer : undefined;
  const summaries = f.targets.map((t) => summarize(f, t, undici, nginx, undiciMachine));
  const outriders = summaries.filter((s) => f.targets.find((t) => t.name === s.target)?.kind === 'outrider');
  const [first, ...others] = outriders;
  const hasPeer = (name: string): boolean => f.targets.some((t) => t.name === name) && !f.dead.has(name);
  const notes = [...f.missing, ...f.dead];
  const all = first ? tables(summaries, f, first, others, undiciMachine) : [];
  if (notes.length > 0) all.push({ title: 'Not measured, or died during the run', columns: ['target', 'why'], rows: notes.map(([n, w]) => [n, w]) });
  return {
    status: 'ok',
    tables: all,
    charts: [],
    checks: checks(ctx, f, first, hasPeer, undici, nginx),
    data: {
      upstream: f.upstream,
      runtimes: { outrider: ctx.runtimes.outrider.version, machine: ctx.runtimes.machine.version },
      summaries,
      idle: f.idle,
      missing: Object.fromEntries(f.missing),
      died: Object.fromEntries(f.dead),
      runs: f.runs.map(({ stream, ...rest }) => ({ ...rest, ...(stream ? { latency: stream.latency, achievedRps: stream.achievedRps, outcomes: stream.outcomes, completed: stream.completed } : {}) })),
    },
  };
}
