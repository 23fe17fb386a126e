/**
 * connections: Outrider holds 10,000 concurrent keep-alive client connections on one listener
 * (500 in --smoke), answers a request on every one of them, then keeps them all open while a
 * steady rate of requests is spread over them round-robin, sampling its RSS, open file
 * descriptors and event-loop delay. Figures: time to open, memory per connection, latency at
 * that rate across all connections, connections the server dropped (must be none).
 *
 * File limits: the runner holds one descriptor per connection and Outrider one per connection
 * plus its upstream pool. The scenario raises the soft RLIMIT_NOFILE of both processes with
 * `prlimit` (util-linux) up to their hard limit, and the hard limit too where allowed (root
 * with CAP_SYS_RESOURCE); `ulimit -n` in the shell that starts the bench does the same. When
 * the limit still falls short it runs with as many connections as fit and the check fails,
 * saying so.
 */
import { connect, CONNECT_BATCH, FD_HEADROOM, openFds, raiseFileLimit, type Connection } from '../lib/client-connections.js';
import { get } from '../lib/http.js';
import { startOutrider } from '../lib/outrider.js';
import { freePorts } from '../lib/ports.js';
import { rssMiB } from '../lib/procstat.js';
import { fmt, round, sleep } from '../lib/stats.js';
import { instant } from '../upstreams/behaviour.js';
import { Simulator } from '../upstreams/index.js';
import { percentile } from './pattern.js';
import { skipped, type Check, type Scenario, type ScenarioContext } from './types.js';

const SETTINGS = {
  smoke: { connections: 500, holdMs: 3_000, rate: 200 },
  quick: { connections: 10_000, holdMs: 15_000, rate: 1000 },
  full: { connections: 10_000, holdMs: 60_000, rate: 1000 },
} as const;
interface Sample {
  readonly t: number;
  readonly rssMiB: number | undefined;
  readonly fds: number | undefined;
  readonly loopP99Ms: number | undefined;
}

async function sample(pid: number, adminPort: number, t0: number): Promise<Sample> {
  let loop: number | undefined;
  try {
    const match = /^outrider_nodejs_eventloop_lag_p99_seconds ([0-9.eE+-]+)$/m.exec((await get(adminPort, '/metrics', 2000)).body);
    loop = match ? round(Number(match[1]) * 1000, 2) : undefined;
  } catch {
    /* missing */
  }
  return { t: round((performance.now() - t0) / 1000, 1), rssMiB: rssMiB(pid), fds: openFds(pid), loopP99Ms: loop };
}

export const connections: Scenario = {
  name: 'connections',
  title: '10,000 concurrent keep-alive client connections on one listener',
  async run(ctx: ScenarioContext) {
    const settings = SETTINGS[ctx.profile.name];
    const want = settings.connections + FD_HEADROOM;
    const runnerLimit = raiseFileLimit(process.pid, want, ctx.log);
    const [adminPort, listenPort, upstreamPort] = (await freePorts(3)) as [number, number, number];
    const sim = await Simulator.start([{ name: 'app', port: upstreamPort, seed: 9000, behaviour: instant }]);
    const outrider = await startOutrider(
      'outrider-connections',
      `version: 1
admin: { address: 127.0.0.1:${adminPort} }
accessLog: off
listeners: [ { name: outbound, address: 127.0.0.1:${listenPort} } ]
upstreams: { app: { endpoints: [ "http://127.0.0.1:${upstreamPort}" ], connections: 128 } }
routes: [ { name: all, match: { pathPrefix: / }, upstream: app } ]
`,
      adminPort,
    );
    if (!outrider.ok) {
      await sim.close();
      return skipped(outrider.reason);
    }
    const open: Connection[] = [];
    try {
      const outriderLimit = raiseFileLimit(outrider.pid, want, ctx.log);
      const target = Math.min(settings.connections, runnerLimit - FD_HEADROOM, outriderLimit - FD_HEADROOM);
      const idle = { rss: rssMiB(outrider.pid), fds: openFds(outrider.pid) };
      ctx.log(`  opening ${target} connections (file limits: runner ${runnerLimit}, Outrider ${outriderLimit})`);

      const openStarted = performance.now();
      let connectFailures = 0;
      for (let i = 0; i < target; i += CONNECT_BATCH) {
        const batch = await Promise.all(Array.from({ length: Math.min(CONNECT_BATCH, target - i) }, () => connect(listenPort)));
        for (const c of batch) {
          if (c === undefined) connectFailures += 1;
          else open.push(c);
        }
      }
      const openMs = performance.now() - openStarted;

      // One request on every connection, a thousand at a time: each one is really served.
      const firstRound: { ok: boolean; ms: number }[] = [];
      for (let i = 0; i < open.length; i += 1000) firstRound.push(...(await Promise.all(open.slice(i, i + 1000).map((c) => c.request()))));
      const firstOk = firstRound.filter((r) => r.ok).length;
      const held = { rss: rssMiB(outrider.pid), fds: openFds(outrider.pid) };
      ctx.log(`  ${open.length} open in ${fmt(openMs / 1000, 1)} s; ${firstOk} answered; Outrider RSS ${fmt(held.rss)} MiB, ${held.fds ?? '—'} fds`);

      // Hold them all while a steady rate is spread over them round-robin.
      const samples: Sample[] = [];
      const t0 = performance.now();
      const results: { ok: boolean; ms: number }[] = [];
      const inFlight: Promise<void>[] = [];
      let next = 0;
      const tickMs = 10;
      const perTick = (settings.rate * tickMs) / 1000;
      let owed = 0;
      const sampler = setInterval(() => void sample(outrider.pid, adminPort, t0).then((s) => samples.push(s)), Math.max(500, settings.holdMs / 30));
      while (performance.now() - t0 < settings.holdMs) {
        owed += perTick;
        for (; owed >= 1; owed -= 1) {
          const connection = open[next++ % open.length] as Connection;
          inFlight.push(connection.request().then((r) => void results.push(r)));
        }
        await sleep(tickMs);
      }
      clearInterval(sampler);
      await Promise.all(inFlight);
      samples.push(await sample(outrider.pid, adminPort, t0));
      const stillOpen = open.filter((c) => !c.closed).length;
      const died = outrider.died();
      if (died) throw new Error(died);

      const ok = results.filter((r) => r.ok);
      const latencies = ok.map((r) => r.ms);
      const maxLoop = Math.max(...samples.map((s) => s.loopP99Ms ?? 0));
      const maxRss = Math.max(...samples.map((s) => s.rssMiB ?? 0));
      // Per connection at the peak, not just after the first round: what holding them costs
      // includes the heap that grows while they are used (and before it is collected).
      const peakRss = Math.max(held.rss ?? 0, maxRss);
      const perConnectionKiB = idle.rss !== undefined && peakRss > 0 && open.length > 0 ? ((peakRss - idle.rss) * 1024) / open.length : NaN;
      const checks: Check[] = [
        {
          name: `connections held open to the end`,
          target: `${settings.connections}`,
          value: `${stillOpen}${target < settings.connections ? ` (file limit allowed ${target})` : ''}`,
          pass: stillOpen === settings.connections,
          source: 'ours',
          functional: true,
        },
        { name: 'requests failed (first round and while holding)', target: '0', value: String(firstRound.length - firstOk + (results.length - ok.length) + connectFailures), pass: firstRound.length === firstOk && results.length === ok.length && connectFailures === 0, source: 'ours', functional: true },
        { name: `p99 latency at ${settings.rate} req/s spread over every connection`, target: '≤ 25 ms', value: `${fmt(percentile(latencies, 99))} ms`, pass: latencies.length > 0 ? percentile(latencies, 99) <= 25 : null, source: 'ours' },
      ];
      return {
        status: 'ok',
        tables: [
          {
            title: `${open.length} keep-alive connections on one listener`,
            columns: ['figure', 'value'],
            rows: [
              ['connections opened / failed', `${open.length} / ${connectFailures}`],
              ['time to open them all (batches of 250)', `${fmt(openMs / 1000, 2)} s`],
              ['first request on each: answered 200', `${firstOk} of ${firstRound.length}`],
              ['Outrider RSS idle → after the first round → max while holding (MiB)', `${fmt(idle.rss)} → ${fmt(held.rss)} → ${fmt(maxRss)}`],
              ['RSS per connection ((peak − idle) ÷ connections)', `${fmt(perConnectionKiB, 1)} KiB`],
              ['Outrider open fds idle → holding', `${idle.fds ?? '—'} → ${held.fds ?? '—'}`],
              [`requests while holding (${settings.rate} req/s for ${settings.holdMs / 1000} s)`, `${results.length}, ${results.length - ok.length} failed`],
              ['latency p50 / p99 / max (ms)', `${fmt(percentile(latencies, 50))} / ${fmt(percentile(latencies, 99))} / ${fmt(Math.max(...latencies))}`],
              ['event-loop delay p99, worst sample (ms)', fmt(maxLoop)],
              ['connections still open at the end', String(stillOpen)],
            ],
            note: `File limits (soft): runner ${runnerLimit}, Outrider ${outriderLimit}. Latency from write to last byte, per request.`,
          },
        ],
        charts: [
          { kind: 'timeline', title: 'Outrider RSS while holding the connections (MiB)', series: [{ label: 'RSS MiB', points: samples.flatMap((s) => (s.rssMiB === undefined ? [] : [{ t: s.t * 1000, ms: s.rssMiB }])) }], markers: [] },
        ],
        checks,
        data: { settings, target, openMs, connectFailures, firstOk, idle, held, peakRss, perConnectionKiB, stillOpen, samples, latency: { p50: percentile(latencies, 50), p99: percentile(latencies, 99), max: Math.max(...latencies) } },
      };
    } finally {
      for (const c of open) c.socket.destroy();
      const code = await outrider.stop();
      if (code !== 0) ctx.log(`  note: Outrider exited with ${code} on SIGTERM (the contract says 0)`);
      await sim.close();
    }
  },
};
