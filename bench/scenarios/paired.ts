/**
 * What the websocket and tls scenarios share: targets measured in interleaved passes, and
 * figures that compare taken as differences or ratios within one pass, then the median over
 * passes (the host swings ±15-30% between passes; see bench/README.md, "Noise").
 */
import type { LoadJob, StreamResult } from '../loadgen/protocol.js';
import type { ScenarioContext } from './types.js';
import { cpuSeconds } from '../lib/procstat.js';
import { median, round } from '../lib/stats.js';
import type { Started } from '../peers/target.js';

export type Running = Extract<Started, { ok: true }>;

/** One load run against one target; `mode` is a rate (per second) or 'max'. */
export interface Sample {
  readonly target: string;
  readonly pass: number;
  readonly mode: number | 'max';
  readonly stream: StreamResult;
  readonly cpuSecondsPer10k: number | undefined;
  /** wrk's requests per second beside a max run (TLS), when wrk is installed. */
  readonly wrkRps?: number;
}

export type Pick = (s: Sample) => number | undefined;

/** "direct" as a target: the upstream itself, nothing to stop, nothing that can die. */
export function directTarget(port: number): Running {
  return { ok: true, port, pid: undefined, readyMs: undefined, stop: async () => undefined, died: () => undefined };
}

/** Rotates the order per pass so no target is always measured first or last. */
export function rotate<T>(items: readonly T[], by: number): T[] {
  const k = by % items.length;
  return [...items.slice(k), ...items.slice(0, k)];
}

export function find(samples: readonly Sample[], target: string, mode: number | 'max', pass?: number): Sample[] {
  return samples.filter((s) => s.target === target && s.mode === mode && (pass === undefined || s.pass === pass));
}

export function medianOf(samples: readonly Sample[], pick: Pick): number {
  return median(samples.map(pick).filter((v): v is number => v !== undefined));
}

/** a − b within each pass, at one mode; one value per pass where both were measured. */
export function pairedDiffs(samples: readonly Sample[], a: string, b: string, mode: number | 'max', pick: Pick): number[] {
  return find(samples, a, mode).flatMap((s) => {
    const other = find(samples, b, mode, s.pass)[0];
    const x = pick(s);
    const y = other ? pick(other) : undefined;
    return x !== undefined && y !== undefined ? [x - y] : [];
  });
}

/** a ÷ b within each pass, at one mode. */
export function pairedRatios(samples: readonly Sample[], a: string, b: string, mode: number | 'max', pick: Pick): number[] {
  return find(samples, a, mode).flatMap((s) => {
    const other = find(samples, b, mode, s.pass)[0];
    const x = pick(s);
    const y = other ? pick(other) : undefined;
    return x !== undefined && y !== undefined && y > 0 ? [x / y] : [];
  });
}

/** Outcomes other than 2xx over a target's samples, as "mismatch 3, reset 1" (or ''). */
export function failuresOf(samples: readonly Sample[]): { count: number; text: string } {
  const counts = new Map<string, number>();
  for (const s of samples) for (const [kind, n] of Object.entries(s.stream.outcomes)) if (kind !== '2xx') counts.set(kind, (counts.get(kind) ?? 0) + n);
  let count = 0;
  for (const n of counts.values()) count += n;
  return { count, text: [...counts].map(([k, n]) => `${k} ${n}`).join(', ') };
}

export function okOf(samples: readonly Sample[]): number {
  let n = 0;
  for (const s of samples) n += s.stream.outcomes['2xx'] ?? 0;
  return n;
}

export { median };

/**
 * One load run against one target, with the target process's CPU per 10k requests: CPU over
 * warm-up and window, divided by every request sent in that time (warm-up included).
 */
export async function measuredSample(
  target: { readonly name: string; readonly run: Running },
  pass: number,
  mode: number | 'max',
  window: { readonly warmupMs: number; readonly durationMs: number },
  load: () => Promise<{ readonly streams: readonly StreamResult[] }>,
): Promise<Sample> {
  const pid = target.run.pid;
  const cpuBefore = pid ? cpuSeconds(pid) : undefined;
  const result = await load();
  const cpuAfter = pid ? cpuSeconds(pid) : undefined;
  const stream = result.streams[0] as StreamResult;
  const requests = stream.completed * ((window.warmupMs + window.durationMs) / window.durationMs);
  const cpu = cpuBefore !== undefined && cpuAfter !== undefined && requests > 0 ? ((cpuAfter - cpuBefore) / requests) * 10_000 : undefined;
  return { target: target.name, pass, mode, stream, cpuSecondsPer10k: cpu === undefined ? undefined : round(cpu, 3) };
}

/**
 * Closed-loop load on each target before its first measurement, so the JIT is warm. `job`
 * gives what differs per scenario: the warm-up stream, and TLS where a target needs it.
 */
export async function warmUpEach<T extends { readonly name: string; readonly run: Running }>(
  ctx: ScenarioContext,
  targets: readonly T[],
  job: (target: T) => { readonly streams: LoadJob['streams']; readonly tls?: LoadJob['tls'] },
): Promise<void> {
  for (const target of targets) {
    await ctx.loadgen.run({
      label: `warm-up ${target.name}`,
      host: '127.0.0.1',
      port: target.run.port,
      warmupMs: 0,
      durationMs: ctx.profile.processWarmupMs,
      timeoutMs: 10_000,
      ...job(target),
    });
  }
}
