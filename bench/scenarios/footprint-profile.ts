/**
 * With `--cpu-prof`, the footprint scenario ends with issue 16's "where the time goes": Outrider
 * on the image's Node under `node --cpu-prof`, a fresh process per profile, on the plain and the
 * patterns route, at 5,000 req/s and at saturation (closed loop). Each profile's self time is
 * grouped by area (Node internals, undici, our folders, metrics, logging, GC, V8) as a share of
 * the time Outrider was busy. The .cpuprofile files stay in the profile directory for a flame graph.
 */
import fs from 'node:fs';
import path from 'node:path';
import { areas, newestProfile, summarizeProfile } from '../lib/cpuprofile.js';
import { startOutrider } from '../lib/outrider.js';
import { freePorts } from '../lib/ports.js';
import { CONNECTIONS } from '../lib/profile.js';
import { fmt } from '../lib/stats.js';
import type { LoadJob } from '../loadgen/protocol.js';
import type { ScenarioContext, Table } from './types.js';

type Mode = LoadJob['streams'][number]['mode'];

export async function whereTheTimeGoes(ctx: ScenarioContext, policy: (admin: number, port: number) => string, routes: readonly (readonly [string, string])[], rate: number, windowMs: number): Promise<Table> {
  const root = ctx.cpuProfDir as string;
  const loads: (readonly [string, Mode])[] = [
    [`${rate}/s`, { kind: 'rate', rps: rate }],
    ['saturated', { kind: 'max' }],
  ];
  const columns: string[] = [];
  const shares: Map<string, number>[] = [];
  const busy: string[] = [];
  for (const [routeName, route] of routes) {
    for (const [loadName, mode] of loads) {
      const dir = path.join(root, `footprint-${routeName}-${loadName.replace('/', '-per-')}`);
      fs.rmSync(dir, { recursive: true, force: true });
      const [port, admin] = (await freePorts(2)) as [number, number];
      const started = await startOutrider(`footprint-profile-${routeName}`, policy(admin, port), admin, { cpuProfDir: dir });
      if (!started.ok) throw new Error(`profiling Outrider did not start: ${started.reason}`);
      try {
        for (const [m, ms] of [[{ kind: 'max' } as Mode, ctx.profile.processWarmupMs], [mode, windowMs]] as const) {
          await ctx.loadgen.run({ label: `profile ${routeName} ${loadName}`, host: '127.0.0.1', port, warmupMs: 0, durationMs: ms, timeoutMs: 10_000, streams: [{ name: 'profile', path: route, mode: m, connections: CONNECTIONS, maxRequests: 10_000_000 }] });
        }
      } finally {
        await started.stop();
      }
      const file = newestProfile(dir);
      if (!file) throw new Error(`Outrider wrote no profile in ${dir}`);
      const summary = summarizeProfile(file, 10_000);
      columns.push(`${routeName} ${loadName}`);
      busy.push(`${fmt(summary.busyPercent, 0)}%`);
      shares.push(new Map(areas(summary).map((a) => [a.area, a.percent])));
      ctx.log(`  --cpu-prof: ${file}`);
    }
  }
  const names = [...new Set(shares.flatMap((m) => [...m.keys()]))].sort((a, b) => (shares[0]?.get(b) ?? 0) - (shares[0]?.get(a) ?? 0));
  return {
    title: 'Where the time goes: Outrider\'s self time by area, % of its busy time (node --cpu-prof)',
    columns: ['area', ...columns],
    rows: [['busy (share of samples)', ...busy], ...names.map((n) => [n, ...shares.map((m) => fmt(m.get(n) ?? 0, 1))])],
    note: 'Warm-up included (closed loop first, then the load named). "ours" is self time in our own code, by folder of dist/; calls into Node and undici count there.',
  };
}
