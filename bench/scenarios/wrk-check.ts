/**
 * wrk-check: our generator against Debian's `wrk` in max-throughput mode, side by side on the
 * same targets (the upstream directly, and the minimal undici pass-through on the proxy core),
 * same connections, same core, alternating. Where both agree, the generator is not what limits
 * a measurement; where wrk reports more, the generator was the bottleneck.
 */
import { freePorts } from '../lib/ports.js';
import { CONNECTIONS } from '../lib/profile.js';
import { fmt, median } from '../lib/stats.js';
import { wrkInstalled, wrkMaxRps } from '../lib/wrk.js';
import { startNginxUpstream } from '../peers/nginx.js';
import { startUndiciPeer } from '../peers/node-peers.js';
import type { Started } from '../peers/target.js';
import { instant } from '../upstreams/behaviour.js';
import { Simulator } from '../upstreams/index.js';
import { skipped, type Check, type Scenario, type ScenarioContext } from './types.js';

type Running = Extract<Started, { ok: true }>;

async function generatorMax(ctx: ScenarioContext, port: number, label: string): Promise<number> {
  const result = await ctx.loadgen.run({
    label: `wrk-check ${label} (generator)`,
    host: '127.0.0.1',
    port,
    warmupMs: ctx.profile.warmupMs,
    durationMs: ctx.profile.durationMs,
    timeoutMs: 10_000,
    streams: [{ name: label, path: '/', mode: { kind: 'max' }, connections: CONNECTIONS, maxRequests: 5_000_000 }],
  });
  return result.streams[0]?.achievedRps ?? NaN;
}

export const wrkCheck: Scenario = {
  name: 'wrk-check',
  title: 'Load generator vs wrk, max throughput side by side',
  async run(ctx) {
    if (!wrkInstalled()) return skipped('wrk is not installed (bench/install-peers.sh)', 'peer');
    const [upstreamPort, peerPort] = (await freePorts(2)) as [number, number];
    const nginx = await startNginxUpstream(upstreamPort);
    const sim = nginx.ok ? undefined : await Simulator.start([{ name: 'app', port: upstreamPort, seed: 1, behaviour: instant }]);
    const peer = await startUndiciPeer(peerPort, upstreamPort);
    const targets: { name: string; port: number }[] = [{ name: 'direct', port: upstreamPort }];
    if (peer.ok) targets.push({ name: 'undici pass-through', port: (peer as Running).port });
    try {
      if (peer.ok) await generatorMax(ctx, peerPort, 'warm-up'); // the peer's JIT, not the measurement
      const rows: { name: string; ours: number[]; wrk: number[] }[] = targets.map((t) => ({ name: t.name, ours: [], wrk: [] }));
      for (let pass = 0; pass < ctx.profile.passes; pass++) {
        for (const [i, t] of targets.entries()) {
          const row = rows[i] as (typeof rows)[number];
          row.ours.push(await generatorMax(ctx, t.port, t.name));
          row.wrk.push((await wrkMaxRps(t.port, ctx.profile.durationMs)) ?? NaN);
        }
      }
      const table = rows.map((r) => {
        const ours = median(r.ours);
        const wrk = median(r.wrk);
        return { name: r.name, ours, wrk, ratio: median(r.ours.map((o, i) => o / (r.wrk[i] ?? NaN))) };
      });
      const undici = table.find((r) => r.name === 'undici pass-through');
      const checks: Check[] = undici
        ? [{ name: 'generator ÷ wrk through a Node proxy', target: '≥ 0.90 (the generator is not the bottleneck)', value: `${fmt(undici.ratio)}x`, pass: undici.ratio >= 0.9, source: 'harness' }]
        : [];
      return {
        status: 'ok',
        tables: [
          {
            title: `Max throughput, ${CONNECTIONS} connections, both on core 0 with the upstream (req/s, median of passes)`,
            columns: ['target', 'our generator', 'wrk -t1', 'ours ÷ wrk'],
            rows: table.map((r) => [r.name, fmt(r.ours, 0), fmt(r.wrk, 0), fmt(r.ratio)]),
            note: `Upstream: ${nginx.ok ? 'nginx return 200' : 'node:http simulator'}.${peer.ok ? '' : ` undici peer: ${peer.reason}`}`,
          },
        ],
        charts: [
          {
            kind: 'bars',
            title: 'Max throughput: our generator vs wrk',
            unit: 'req/s',
            labels: table.map((r) => r.name),
            series: [
              { label: 'our generator', values: table.map((r) => r.ours) },
              { label: 'wrk', values: table.map((r) => r.wrk) },
            ],
          },
        ],
        checks,
        data: { rows },
      };
    } finally {
      if (peer.ok) await peer.stop();
      if (nginx.ok) await nginx.stop();
      await sim?.close();
    }
  },
};
