/**
 * `wrk` (Debian's, closed loop) as a cross-check of our generator's max-throughput mode: the
 * same target, the same connections, the same core. wrk is written in C with an event loop per
 * thread, so where it reports more than our generator, the generator was the bottleneck.
 */
import { CONNECTIONS } from './profile.js';
import { spawnPinned } from './procs.js';
import { findBinary } from './tmp.js';

export function wrkInstalled(): boolean {
  return findBinary('wrk') !== undefined;
}

/** Requests per second from `wrk -t1 -c50 -dNs`, or undefined when wrk is missing or fails. */
export async function wrkMaxRps(port: number, durationMs: number, path = '/'): Promise<number | undefined> {
  return (await wrkRun(`http://127.0.0.1:${port}${path}`, durationMs))?.rps;
}

export interface WrkResult {
  readonly rps: number;
  /** Responses other than 2xx or 3xx. */
  readonly non2xx: number;
  /** Socket errors of every kind (connect, read, write, timeout). */
  readonly socketErrors: number;
}

/**
 * `wrk -t1 -c50 -dNs [extra args] URL` (https:// URLs speak TLS: wrk does not verify the
 * certificate, and reuses TLS sessions when it reconnects). Undefined when wrk is missing or fails.
 */
export async function wrkRun(url: string, durationMs: number, extraArgs: readonly string[] = []): Promise<WrkResult | undefined> {
  const bin = findBinary('wrk');
  if (!bin) return undefined;
  const seconds = Math.max(1, Math.round(durationMs / 1000));
  const child = spawnPinned('wrk', bin, ['-t1', `-c${CONNECTIONS}`, `-d${seconds}s`, ...extraArgs, url], { role: 'generator' });
  const code = await child.exited;
  const output = child.output();
  const match = output.match(/Requests\/sec:\s+([\d.]+)/);
  if (code !== 0 || !match) return undefined;
  const non2xx = Number(/Non-2xx or 3xx responses:\s+(\d+)/.exec(output)?.[1] ?? 0);
  const errors = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(output);
  const socketErrors = errors ? errors.slice(1).reduce((n, v) => n + Number(v), 0) : 0;
  return { rps: Number(match[1]), non2xx, socketErrors };
}
