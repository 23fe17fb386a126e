/**
 * websocket: what the sidecar costs a WebSocket. A `ws` echo server is the upstream; 50 client
 * connections each upgrade once, then send 64-byte binary messages one at a time and wait for
 * the echo, checked byte for byte. The same load goes straight to the echo server ("direct"),
 * through Outrider (a route to the echo upstream: the upgrade goes through the route, then the
 * connections are joined) and through nginx as a WebSocket proxy, in interleaved passes.
 *
 * Figures: the per-message round trip at fixed rates (open loop, from each message's intended
 * send time, so a stall cannot hide), its added p50/p99 over direct paired per pass; messages
 * per second with every client sending as soon as its echo is back (closed loop), and the
 * ratio Outrider ÷ nginx paired per pass. Medians of passes.
 *
 * Placement as in overhead: the proxy alone on core 1; the client (the bench's generator, whose
 * raw WebSocket connection is bench/loadgen/websocket.ts), the echo server and the runner on
 * core 0.
 */
import { spectrum, mergeEncoded } from '../loadgen/histogram.js';
import type { StreamResult } from '../loadgen/protocol.js';
import { bundlePath } from '../lib/build.js';
import { waitFor200 } from '../lib/http.js';
import { outriderBuilt, startOutrider } from '../lib/outrider.js';
import { freePorts } from '../lib/ports.js';
import { spawnPinned, stop } from '../lib/procs.js';
import type { ProfileName } from '../lib/profile.js';
import { fmt, round, signed } from '../lib/stats.js';
import { startNginxWsProxy } from '../peers/nginx.js';
import { diedReason, type Started } from '../peers/target.js';
import { directTarget, failuresOf, find, measuredSample, median, medianOf, okOf, pairedDiffs, pairedRatios, rotate, warmUpEach, type Running, type Sample } from './paired.js';
import { guardFailures } from './pattern.js';
import type { Chart, Check, Scenario, ScenarioContext, Table } from './types.js';

/** Client connections (one WebSocket each) and the message size. */
const CONNECTIONS = 50;
const MESSAGE_BYTES = 64;
/** Fixed rates (messages per second over all connections) per profile; a max run is always added. */
const RATES: Readonly<Record<ProfileName, readonly number[]>> = { smoke: [1000], quick: [1000, 5000], full: [1000, 5000] };
/** Targets (issue 13): Outrider's added p99 per message at most twice nginx's, with a floor for when nginx adds next to nothing. */
const P99_FACTOR = 2;
const P99_FLOOR_MS = 0.2;
/** Targets (issue 13): messages per second, closed loop, at least half of nginx's. */
const THROUGHPUT_RATIO = 0.5;

interface Target {
  readonly name: string;
  readonly run: Running;
}

function outriderPolicy(adminPort: number, listenPort: number, echoPort: number): string {
  return `version: 1
admin: { address: 127.0.0.1:${adminPort} }
accessLog: off
listeners: [ { name: outbound, address: 127.0.0.1:${listenPort} } ]
upstreams: { echo: { endpoints: [ "http://127.0.0.1:${echoPort}" ] } }
routes: [ { name: ws, match: { pathPrefix: / }, upstream: echo } ]
`;
}

/** The `ws` echo server, in its own process on the generator's core (like the other upstreams). */
async function startEcho(port: number): Promise<{ stop(): Promise<unknown>; died(): string | undefined }> {
  const child = spawnPinned('ws-echo', process.execPath, [bundlePath('wsEcho'), String(port)], { role: 'generator' });
  try {
    await waitFor200(child, port, '/');
  } catch (err) {
    await stop(child);
    throw err;
  }
  return { stop: () => stop(child), died: diedReason(child) };
}

async function startOutriderTarget(port: number, adminPort: number, echoPort: number, cpuProfDir: string | undefined): Promise<Started & { metrics?: () => Promise<string> }> {
  const started = await startOutrider('outrider-websocket', outriderPolicy(adminPort, port, echoPort), adminPort, { cpuProfDir });
  if (!started.ok) return started;
  return { ok: true, port, pid: started.pid, readyMs: started.readyMs, stop: () => started.stop().then(() => undefined), died: () => started.died(), metrics: () => started.metrics() };
}

function streamOf(mode: number | 'max', warmupMs: number, durationMs: number): { mode: { kind: 'rate'; rps: number } | { kind: 'max' }; maxRequests: number } {
  // Bounded in count as well as time: a rate run sends at most what its window asks for.
  if (mode === 'max') return { mode: { kind: 'max' }, maxRequests: 20_000_000 };
  return { mode: { kind: 'rate', rps: mode }, maxRequests: Math.ceil((mode * (warmupMs + durationMs + 1000)) / 1000) };
}

async function measure(ctx: ScenarioContext, target: Target, pass: number, mode: number | 'max'): Promise<Sample> {
  const { profile } = ctx;
  return measuredSample(target, pass, mode, profile, () =>
    ctx.loadgen.run({
      label: `websocket ${target.name} ${mode === 'max' ? 'max' : `${mode}/s`}`,
      host: '127.0.0.1',
      port: target.run.port,
      warmupMs: profile.warmupMs,
      durationMs: profile.durationMs,
      timeoutMs: 10_000,
      streams: [{ name: target.name, path: '/ws', connections: CONNECTIONS, websocket: { messageBytes: MESSAGE_BYTES }, ...streamOf(mode, profile.warmupMs, profile.durationMs) }],
    }),
  );
}

function warmUp(ctx: ScenarioContext, targets: readonly Target[]): Promise<void> {
  return warmUpEach(ctx, targets, () => ({
    streams: [{ name: 'warm-up', path: '/ws', mode: { kind: 'max' }, connections: CONNECTIONS, maxRequests: 20_000_000, websocket: { messageBytes: MESSAGE_BYTES } }],
  }));
}

async function runPasses(ctx: ScenarioContext, targets: readonly Target[], rates: readonly number[], dead: Map<string, string>): Promise<Sample[]> {
  const samples: Sample[] = [];
  for (let pass = 0; pass < ctx.profile.passes; pass++) {
    ctx.log(`  pass ${pass + 1}/${ctx.profile.passes}`);
    for (const mode of [...rates, 'max' as const]) {
      for (const target of rotate(targets, pass)) {
        if (dead.has(target.name)) continue;
        samples.push(await measure(ctx, target, pass, mode));
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

const p50 = (s: Sample): number => s.stream.latency.p50;
const p99 = (s: Sample): number => s.stream.latency.p99;
const rps = (s: Sample): number => s.stream.achievedRps;

interface Summary {
  readonly target: string;
  readonly rates: Record<string, { p50: number; p99: number; addedP50: number; addedP99: number }>;
  readonly maxMps: number;
  readonly ratioToDirect: number;
  readonly ratioToNginx: number;
  readonly cpuSecondsPer10kAtMax: number;
  readonly echoed: number;
  readonly failed: number;
  readonly failures: string;
  /** Sockets opened beyond one per connection per run: the upgrade had to be redone. */
  readonly reconnects: number;
}

function summarize(samples: readonly Sample[], rates: readonly number[], target: string): Summary {
  const mine = samples.filter((s) => s.target === target);
  const perRate: Summary['rates'] = {};
  for (const rate of rates) {
    perRate[String(rate)] = {
      p50: round(medianOf(find(samples, target, rate), p50), 3),
      p99: round(medianOf(find(samples, target, rate), p99), 3),
      addedP50: round(median(pairedDiffs(samples, target, 'direct', rate, p50)), 3),
      addedP99: round(median(pairedDiffs(samples, target, 'direct', rate, p99)), 3),
    };
  }
  const failures = failuresOf(mine);
  return {
    target,
    rates: perRate,
    maxMps: round(medianOf(find(samples, target, 'max'), rps), 0),
    ratioToDirect: round(median(pairedRatios(samples, target, 'direct', 'max', rps)), 4),
    ratioToNginx: round(median(pairedRatios(samples, target, 'nginx', 'max', rps)), 4),
    cpuSecondsPer10kAtMax: round(medianOf(find(samples, target, 'max'), (s) => s.cpuSecondsPer10k), 3),
    echoed: okOf(mine),
    failed: failures.count,
    failures: failures.text,
    reconnects: mine.reduce((n, s) => n + Math.max(0, s.stream.opened - CONNECTIONS), 0),
  };
}

function latencyTable(rates: readonly number[], summaries: readonly Summary[]): Table {
  const columns = ['target'];
  for (const rate of rates) columns.push(`${rate}/s p50`, 'p99', '+p50', '+p99');
  return {
    title: `Round trip of a ${MESSAGE_BYTES}-byte message at fixed rates over ${CONNECTIONS} WebSockets (ms; "+" = added over direct, paired per pass, median of passes)`,
    columns,
    rows: summaries.map((s) => {
      const row = [s.target];
      for (const rate of rates) {
        const r = s.rates[String(rate)];
        row.push(fmt(r?.p50), fmt(r?.p99), s.target === 'direct' ? '' : signed(r?.addedP50), s.target === 'direct' ? '' : signed(r?.addedP99));
      }
      return row;
    }),
    note: 'Open loop, corrected for coordinated omission: latency from each message\'s intended send time; one message in flight per connection.',
  };
}

function throughputTable(summaries: readonly Summary[]): Table {
  return {
    title: 'Max throughput, every client sending as soon as its echo is back (medians of passes; ratios paired per pass)',
    columns: ['target', 'msg/s', '÷ direct', '÷ nginx', 'CPU s/10k msg', 'proxy core busy', 'echoed', 'failed', 'reconnects'],
    rows: summaries.map((s) => [
      s.target,
      fmt(s.maxMps, 0),
      s.target === 'direct' ? '' : fmt(s.ratioToDirect),
      s.target === 'outrider' ? fmt(s.ratioToNginx) : '',
      fmt(s.cpuSecondsPer10kAtMax, 3),
      s.target === 'direct' ? '' : `${fmt((s.cpuSecondsPer10kAtMax * s.maxMps) / 100, 0)}%`,
      String(s.echoed),
      s.failures === '' ? '0' : `${s.failed} (${s.failures})`,
      String(s.reconnects),
    ]),
    note:
      'One message in flight per connection: below 100% proxy core busy the figure is bound by the round trip (client and echo server share core 0), not by the proxy\'s CPU. ' +
      'Echoed: messages that came back byte for byte over all runs (warm-up excluded). Reconnects: upgrades beyond one per connection per run.',
  };
}

/** Every pass on one line: added p50/p99 of Outrider and nginx per rate, and the max-throughput ratio. */
function perPassTable(samples: readonly Sample[], rates: readonly number[], passes: number): Table {
  const columns = ['pass'];
  for (const rate of rates) columns.push(`${rate}/s Outrider +p50`, '+p99', 'nginx +p50', '+p99');
  columns.push('max msg/s direct', 'Outrider', 'nginx', 'Outrider ÷ nginx');
  const row = (label: string, pick: (values: number[]) => number | undefined, pass?: number): string[] => {
    const only = pass === undefined ? samples : samples.filter((s) => s.pass === pass);
    const cells = [label];
    for (const rate of rates) {
      for (const target of ['outrider', 'nginx']) {
        cells.push(signed(pick(pairedDiffs(only, target, 'direct', rate, p50))), signed(pick(pairedDiffs(only, target, 'direct', rate, p99))));
      }
    }
    for (const target of ['direct', 'outrider', 'nginx']) cells.push(fmt(pick(find(only, target, 'max').map(rps)), 0));
    cells.push(fmt(pick(pairedRatios(only, 'outrider', 'nginx', 'max', rps))));
    return cells;
  };
  const rows = Array.from({ length: passes }, (_, pass) => row(String(pass + 1), (v) => v[0], pass));
  if (passes > 1) rows.push(row('median', (v) => median(v)));
  return { title: 'Per pass (ms added over direct in the same pass; msg/s)', columns, rows };
}


function charts(samples: readonly Sample[], rates: readonly number[], summaries: readonly Summary[]): Chart[] {
  const rate = rates[rates.length - 1] as number;
  return [
    {
      kind: 'spectrum',
      title: `WebSocket message round trip at ${rate} msg/s (all passes merged)`,
      series: summaries.map((s) => ({ label: s.target, points: spectrum(mergeEncoded(find(samples, s.target, rate).map((x) => x.stream.histogram))) })),
    },
    {
      kind: 'bars',
      title: 'WebSocket messages per second, closed loop (median of passes)',
      unit: 'msg/s',
      labels: summaries.map((s) => s.target),
      series: [{ label: `${CONNECTIONS} connections, ${MESSAGE_BYTES} B`, values: summaries.map((s) => (Number.isFinite(s.maxMps) ? s.maxMps : null)) }],
    },
  ];
}

function checks(summaries: readonly Summary[], rates: readonly number[], missing: ReadonlyMap<string, string>, dead: ReadonlyMap<string, string>, outriderStreams: readonly StreamResult[]): Check[] {
  const o = summaries.find((s) => s.target === 'outrider');
  const n = summaries.find((s) => s.target === 'nginx');
  const d = summaries.find((s) => s.target === 'direct');
  const crash = dead.get('outrider');
  const why = missing.get('outrider') ?? 'not measured';
  const served: Check = {
    name: 'Outrider upgraded every connection and echoed every message byte for byte, and stayed up',
    target: 'started, > 0 echoed, 0 failed or mismatched, 0 reconnects, no crash',
    value: !o
      ? `did not start: ${why}`
      : crash
        ? `crashed: ${crash.slice(0, 200)}`
        : `${o.echoed} echoed, ${o.failed} failed${o.failures ? ` (${o.failures})` : ''}, ${o.reconnects} reconnects`,
    pass: o !== undefined && !crash && o.echoed > 0 && o.failed === 0 && o.reconnects === 0,
    source: 'ours',
    issue: 13,
    functional: true,
  };
  const harness: Check = {
    name: 'direct: the echo server and the client agree (every message echoed)',
    target: '> 0 echoed, 0 failed',
    value: d ? `${d.echoed} echoed, ${d.failed} failed${d.failures ? ` (${d.failures})` : ''}` : 'not measured',
    pass: d ? d.echoed > 0 && d.failed === 0 : null,
    source: 'harness',
  };
  const measured: Check[] = [];
  for (const rate of rates) {
    const mine = o?.rates[String(rate)]?.addedP99;
    const theirs = n?.rates[String(rate)]?.addedP99;
    const name = `added p99 per message at ${rate} msg/s ÷ nginx's`;
    const target = `≤ ${P99_FACTOR}× nginx's (at least ${P99_FLOOR_MS} ms allowed)`;
    if (mine === undefined || !Number.isFinite(mine) || theirs === undefined || !Number.isFinite(theirs)) {
      measured.push({ name, target, value: !o ? why : !n ? `nginx: ${missing.get('nginx') ?? 'not measured'}` : 'not measured', pass: null, source: 'ours', issue: 13 });
      continue;
    }
    const allowed = Math.max(P99_FACTOR * theirs, P99_FLOOR_MS);
    measured.push(guardFailures({ name, target, value: `${signed(mine)} ms (nginx ${signed(theirs)} ms, allowed ${fmt(allowed)} ms)`, pass: mine <= allowed, source: 'ours', issue: 13 }, outriderStreams));
  }
  const ratio = o?.ratioToNginx;
  measured.push(
    ratio === undefined || !Number.isFinite(ratio)
      ? { name: 'messages per second ÷ nginx', target: `≥ ${THROUGHPUT_RATIO}`, value: !o ? why : !n ? `nginx: ${missing.get('nginx') ?? 'not measured'}` : 'not measured', pass: null, source: 'ours', issue: 13 }
      : guardFailures({ name: 'messages per second ÷ nginx', target: `≥ ${THROUGHPUT_RATIO}`, value: `${fmt(ratio)}x`, pass: ratio >= THROUGHPUT_RATIO, source: 'ours', issue: 13 }, outriderStreams),
  );
  const all = crash ? measured.map((c) => ({ ...c, value: `${c.value}; Outrider crashed: ${crash.slice(0, 200)}`, pass: false })) : measured;
  return [served, harness, ...all];
}

/** Bytes Outrider counted through its tunnels (closed ones), both ways: it really joined the connections. */
function tunnelBytes(metrics: string): number | undefined {
  let total = 0;
  let found = false;
  for (const m of metrics.matchAll(/^outrider_tunnel_bytes_total\{[^}]*kind="upgrade"[^}]*\} ([0-9.eE+]+)$/gm)) {
    total += Number(m[1]);
    found = true;
  }
  return found ? total : undefined;
}

export const websocket: Scenario = {
  name: 'websocket',
  title: 'WebSocket: direct vs Outrider vs nginx, per-message round trip and messages per second',
  async run(ctx) {
    const rates = RATES[ctx.profile.name];
    const [echoPort, outriderPort, adminPort, nginxPort] = (await freePorts(4)) as [number, number, number, number];
    const echo = await startEcho(echoPort);
    ctx.log(`  upstream: ws echo server (node, ws, no compression), ${CONNECTIONS} connections, ${MESSAGE_BYTES}-byte binary messages`);
    const targets: Target[] = [{ name: 'direct', run: directTarget(echoPort) }];
    const missing = new Map<string, string>();
    let metrics: (() => Promise<string>) | undefined;
    for (const [name, start] of [
      ['outrider', () => startOutriderTarget(outriderPort, adminPort, echoPort, ctx.cpuProfDir)],
      ['nginx', () => startNginxWsProxy(nginxPort, echoPort)],
    ] as const) {
      const started: Started & { metrics?: () => Promise<string> } = await start();
      if (started.ok) {
        targets.push({ name, run: started });
        if (started.metrics) metrics = started.metrics;
        ctx.log(`  ${name}: ready in ${started.readyMs} ms`);
      } else {
        missing.set(name, started.reason);
        ctx.log(`  ${name}: ${started.reason}`);
      }
    }
    try {
      await warmUp(ctx, targets);
      const dead = new Map<string, string>();
      const samples = await runPasses(ctx, targets, rates, dead);
      const echoDied = echo.died();
      if (echoDied) throw new Error(`the echo server died: ${echoDied}`);
      const summaries = targets.map((t) => summarize(samples, rates, t.name));
      const bytes = metrics ? tunnelBytes(await metrics()) : undefined;
      const tables: Table[] = [latencyTable(rates, summaries), throughputTable(summaries), perPassTable(samples, rates, ctx.profile.passes)];
      const notes = [...missing, ...dead];
      if (notes.length > 0) tables.push({ title: 'Not measured, or died during the run', columns: ['target', 'why'], rows: notes.map(([a, b]) => [a, b]) });
      return {
        status: 'ok',
        tables,
        charts: charts(samples, rates, summaries),
        checks: checks(summaries, rates, missing, dead, samples.filter((s) => s.target === 'outrider').map((s) => s.stream)),
        data: {
          upstream: 'ws echo server (node, ws)',
          connections: CONNECTIONS,
          messageBytes: MESSAGE_BYTES,
          rates,
          outriderBuilt: outriderBuilt(),
          outriderTunnelBytes: bytes,
          missing: Object.fromEntries(missing),
          died: Object.fromEntries(dead),
          summaries,
          samples: samples.map(({ stream, ...rest }) => ({ ...rest, latency: stream.latency, service: stream.service, achievedRps: stream.achievedRps, outcomes: stream.outcomes, opened: stream.opened })),
        },
      };
    } finally {
      for (const t of targets) await t.run.stop();
      await echo.stop();
    }
  },
};
