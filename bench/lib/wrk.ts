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
  const bin = findBinary('wrk');
  if (!bin) return undefined;
  const seconds = Math.max(1, Math.round(durationMs / 1000));
  const child = spawnPinned('wrk', bin, ['-t1', `-c${CONNECTIONS}`, `-d${seconds}s`, `http://127.0.0.1:${port}${path}`], { role: 'generator' });
  const code = await child.exited;
  const match = child.output().match(/Requests\/sec:\s+([\d.]+)/);
  return code === 0 && match ? Number(match[1]) : undefined;
}
