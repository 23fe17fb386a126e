/**
 * footprint (issue 16): what one sidecar costs a pod on the runtime the image ships. Outrider on
 * the image's Node (and on this machine's, and optionally an older build: `--baseline DIR`)
 * beside a bare undici pass-through on the same Node, nginx, and direct calls, in interleaved
 * passes: added latency at 1,000 req/s; CPU, heap bytes allocated and RSS per request at
 * 5,000 req/s on a route without patterns and on one with retry + hedge + breaker + bulkhead;
 * max throughput with wrk; RSS idle and with 10,000 idle keep-alive connections.
 * Ratios are paired within a pass, figures are medians of passes (footprint-report.ts).
 */
import path from 'node:path';
import { withAllocWindow, type AllocWindow } from '../lib/alloc.js';
import { connect, CONNECT_BATCH, FD_HEADROOM, raiseFileLimit, type Connection } from '../lib/client-connections.js';
import { startOutrider } from '../lib/outrider.js';
import { freePorts } from '../lib/ports.js';
import { rssAnonMiB, rssMiB } from '../lib/procstat.js';
import { CONNECTIONS } from '../lib/profile.js';
import { sleep } from '../lib/stats.js';
import { tempDir } from '../lib/tmp.js';
import { wrkRun, type WrkResult } from '../lib/wrk.js';
import { startNginxProxy } from '../peers/nginx.js';
import { startUndiciPeer } from '../peers/node-peers.js';
import type { Started } from '../peers/target.js';
import { whereTheTimeGoes } from './footprint-profile.js';
import { footprintResult, type Footprint, type FootprintTarget } from './footprint-report.js';
import { startUpstream } from './overhead.js';
import { directTarget, measuredSample, rotate, warmUpEach, type Sample } from './paired.js';
import { skipped, type Scenario, type ScenarioContext } from './types.js';

const SETTINGS = {
  smoke: { windowMs: 600, warmupMs: 100, wrkMs: 1000, idleConnections: 500 },
  quick: { windowMs: 2000, warmupMs: 300, wrkMs: 2000, idleConnections: 10_000 },
  full: { windowMs: 5000, warmupMs: 1000, wrkMs: 5000, idleConnections: 10_000 },
} as const;
export const LATENCY_RATE = 1000;
export const CPU_RATE = 5000;
export const PATTERNS_PATH = '/patterns/';

/** Two routes: none of the patterns, and the four the issue names (a hedge that waits 20 ms, so it costs its machinery, not extra calls). */
function policy(adminPort: number, port: number, upstreamPort: number): string {
  return `version: 1
admin: { address: 127.0.0.1:${adminPort} }
accessLog: off
listeners: [ { name: outbound, address: 127.0.0.1:${port} } ]
upstreams: { app: { endpoints: [ "http://127.0.0.1:${upstreamPort}" ], connections: 64 } }
routes:
  - name: patterns
    match: { pathPrefix: ${PATTERNS_PATH} }
    upstream: app
    retry: { attempts: 2 }
    hedge: { delay: 20ms }
    circuitBreaker: {}
    bulkhead: { maxConcurrent: 1000 }
  - { name: plain, match: { pathPrefix: / }, upstream: app }
`;
}

type Running = Extract<Started, { ok: true }>;

async function startTargets(ctx: ScenarioContext, upstreamPort: number, allocOut: string): Promise<{ targets: FootprintTarget[]; missing: Map<string, string> }> {
  const { outrider, machine } = ctx.runtimes;
  const targets: FootprintTarget[] = [{ name: 'direct', kind: 'direct', run: directTarget(upstreamPort), idleRssMiB: undefined, idleAnonMiB: undefined }];
  const missing = new Map<string, string>();
  const outriders: [string, typeof outrider, string | undefined][] = [[`outrider ${outrider.label}`, outrider, undefined]];
  if (machine.version !== outrider.version) outriders.push([`outrider ${machine.label}`, machine, undefined]);
  if (ctx.baselineDir) outriders.push([`before ${outrider.label}`, outrider, ctx.baselineDir]);
  const starters: [string, FootprintTarget['kind'], () => Promise<Started>][] = [
    ...outriders.map(([name, runtime, repoDir]): [string, FootprintTarget['kind'], () => Promise<Started>] => [name, 'outrider', async () => {
      const [port, adminPort] = (await freePorts(2)) as [number, number];
      const started = await startOutrider(`footprint-${name.replace(/\W+/g, '-')}`, policy(adminPort, port, upstreamPort), adminPort, { runtime, repoDir, allocOut });
      if (!started.ok) return started;
      return { ok: true, port, pid: started.pid, readyMs: started.readyMs, stop: () => started.stop().then(() => undefined), died: () => started.died() };
    }]),
    [`undici ${outrider.label}`, 'peer', async () => startUndiciPeer(...((await freePorts(1)) as [number]), upstreamPort, outrider)],
    // The same pass-through on the machine's Node: issue 16 quoted its throughput ratios against it.
    ...(machine.version === outrider.version ? [] : [[`undici ${machine.label}`, 'peer', async () => startUndiciPeer(...((await freePorts(1)) as [number]), upstreamPort, machine)] as [string, FootprintTarget['kind'], () => Promise<Started>]]),
    ['nginx', 'peer', async () => startNginxProxy(...((await freePorts(1)) as [number]), upstreamPort)],
  ];
  for (const [name, kind, start] of starters) {
    const started = await start();
    if (!started.ok) {
      missing.set(name, started.reason);
      ctx.log(`  ${name}: ${started.reason}`);
      continue;
    }
    // Idle: after start, before any request; a second later, so start-up garbage is not counted as load.
    await sleep(1000);
    targets.push({ name, kind, run: started, idleRssMiB: started.pid ? rssMiB(started.pid) : undefined, idleAnonMiB: started.pid ? rssAnonMiB(started.pid) : undefined });
    ctx.log(`  ${name}: ready in ${started.readyMs} ms, idle RSS ${started.pid ? rssMiB(started.pid) : '—'} MiB`);
  }
  return { targets, missing };
}

/** One fixed-rate or closed-loop run of our generator, with CPU, heap allocations (Outriders) and peak RSS. */
async function measure(ctx: ScenarioContext, target: FootprintTarget, pass: number, rate: number, route: string, allocOut: string): Promise<Footprint['runs'][number]> {
  const s = SETTINGS[ctx.profile.name];
  const run = (): Promise<Sample> =>
    measuredSample(target, pass, rate, { warmupMs: s.warmupMs, durationMs: s.windowMs }, () =>
      ctx.loadgen.run({
        label: `footprint ${target.name} ${route} ${rate}/s`,
        host: '127.0.0.1',
        port: target.run.port,
        warmupMs: s.warmupMs,
        durationMs: s.windowMs,
        timeoutMs: 10_000,
        streams: [{ name: target.name, path: route, mode: { kind: 'rate', rps: rate }, connections: CONNECTIONS, maxRequests: rate * 60 }],
      }),
    );
  const pid = target.run.pid;
  let peakRss = 0;
  let peakAnon = 0;
  const sample = (): void => {
    if (!pid) return;
    peakRss = Math.max(peakRss, rssMiB(pid) ?? 0);
    peakAnon = Math.max(peakAnon, rssAnonMiB(pid) ?? 0);
  };
  const sampler = pid ? setInterval(sample, 200) : undefined;
  try {
    let result: Sample;
    let alloc: AllocWindow | undefined;
    if (target.kind === 'outrider' && pid) ({ result, window: alloc } = await withAllocWindow(pid, allocOut, run));
    else result = await run();
    sample();
    return { ...result, route, warmupMs: s.warmupMs, windowMs: s.windowMs, peakRssMiB: pid ? peakRss : undefined, peakAnonMiB: pid ? peakAnon : undefined, alloc };
  } finally {
    if (sampler) clearInterval(sampler);
  }
}

async function wrkMax(ctx: ScenarioContext, target: FootprintTarget): Promise<WrkResult | undefined> {
  return wrkRun(`http://127.0.0.1:${target.run.port}/`, SETTINGS[ctx.profile.name].wrkMs);
}

async function runPasses(ctx: ScenarioContext, targets: readonly FootprintTarget[], allocOut: string, dead: Map<string, string>): Promise<Footprint['runs']> {
  const runs: Footprint['runs'][number][] = [];
  const alive = (): FootprintTarget[] => targets.filter((t) => !dead.has(t.name));
  const check = (t: FootprintTarget): void => {
    const died = t.run.died();
    if (died) dead.set(t.name, died);
  };
  for (let pass = 0; pass < ctx.profile.passes; pass++) {
    ctx.log(`  pass ${pass + 1}/${ctx.profile.passes}`);
    for (const t of rotate(alive(), pass)) {
      runs.push(await measure(ctx, t, pass, LATENCY_RATE, '/', allocOut));
      check(t);
    }
    for (const t of rotate(alive().filter((x) => x.kind !== 'direct'), pass)) {
      runs.push(await measure(ctx, t, pass, CPU_RATE, '/', allocOut));
      if (t.kind === 'outrider') runs.push(await measure(ctx, t, pass, CPU_RATE, PATTERNS_PATH, allocOut));
      check(t);
    }
    for (const t of rotate(alive().filter((x) => x.kind !== 'direct'), pass)) {
      const wrk = await wrkMax(ctx, t);
      if (wrk) runs.push({ target: t.name, pass, mode: 'max', route: '/', wrk, peakRssMiB: t.run.pid ? rssMiB(t.run.pid) : undefined });
      check(t);
    }
  }
  return runs;
}

/** N keep-alive connections with one request answered on each, then left idle: Outrider's RSS with them. */
async function idleConnections(ctx: ScenarioContext, target: FootprintTarget): Promise<Footprint['idle'][number]> {
  const pid = target.run.pid as number;
  const wanted = SETTINGS[ctx.profile.name].idleConnections;
  const limit = Math.min(raiseFileLimit(process.pid, wanted + FD_HEADROOM, ctx.log), raiseFileLimit(pid, wanted + FD_HEADROOM, ctx.log)) - FD_HEADROOM;
  const count = Math.min(wanted, limit);
  const before = rssMiB(pid);
  const open: Connection[] = [];
  let answered = 0;
  try {
    for (let i = 0; i < count; i += CONNECT_BATCH) {
      const batch = (await Promise.all(Array.from({ length: Math.min(CONNECT_BATCH, count - i) }, () => connect(target.run.port)))).filter((c): c is Connection => c !== undefined);
      open.push(...batch);
      answered += (await Promise.all(batch.map((c) => c.request()))).filter((r) => r.ok).length;
    }
    await sleep(1000); // idle: whatever the requests left behind may be collected
    return { target: target.name, wanted, opened: open.length, answered, rssBeforeMiB: before, rssMiB: rssMiB(pid) };
  } finally {
    for (const c of open) c.socket.destroy();
  }
}

export const footprint: Scenario = {
  name: 'footprint',
  title: "Footprint: CPU, memory and latency per request on the image's Node.js (issue 16)",
  async run(ctx) {
    const [upstreamPort] = (await freePorts(1)) as [number];
    const upstream = await startUpstream(upstreamPort);
    ctx.log(`  upstream: ${upstream.kind}`);
    const allocOut = path.join(tempDir('footprint'), 'alloc.jsonl');
    const { targets, missing } = await startTargets(ctx, upstreamPort, allocOut);
    try {
      if (!targets.some((t) => t.kind === 'outrider')) return skipped(missing.values().next().value ?? 'Outrider did not start');
      await warmUpEach(ctx, targets.filter((t) => t.kind !== 'direct'), () => ({ streams: [{ name: 'warm-up', path: '/', mode: { kind: 'max' }, connections: CONNECTIONS, maxRequests: 5_000_000 }] }));
      const dead = new Map<string, string>();
      const runs = await runPasses(ctx, targets, allocOut, dead);
      const idle: Footprint['idle'][number][] = [];
      for (const t of targets.filter((x) => x.kind === 'outrider' && !dead.has(x.name))) idle.push(await idleConnections(ctx, t));
      const result = footprintResult(ctx, { upstream: upstream.kind, targets, runs, idle, missing, dead });
      if (!ctx.cpuProfDir) return result;
      for (const t of targets) await t.run.stop(); // the profiled processes get core 1 to themselves
      const routes = [['plain', '/'], ['patterns', PATTERNS_PATH]] as const;
      const profile = await whereTheTimeGoes(ctx, (admin, port) => policy(admin, port, upstreamPort), routes, CPU_RATE, SETTINGS[ctx.profile.name].windowMs);
      return { ...result, tables: [...result.tables, profile] };
    } finally {
      for (const t of targets) await t.run.stop();
      await upstream.stop();
    }
  },
};

export type { Running };
