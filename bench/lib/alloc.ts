/**
 * Heap bytes a process allocates over one load run, read from bench/lib/alloc-probe.mjs
 * (preloaded with startOutrider's `allocOut`): SIGUSR2 opens a window, a second one closes it
 * and the probe appends a JSON line.
 */
import fs from 'node:fs';
import { sleep } from './stats.js';

export interface AllocWindow {
  readonly pid: number;
  readonly node: string;
  readonly seconds: number;
  /** Bytes allocated on the V8 heap in the window. */
  readonly allocatedBytes: number;
  readonly gcCount: number;
  readonly gcByType: Record<string, number>;
  /** Time spent in GC pauses (the GC's own measure), µs. */
  readonly gcMicros: number;
  readonly cpuMicros: number;
  readonly rss: number;
}

function lines(file: string, pid: number): AllocWindow[] {
  if (!fs.existsSync(file)) return [];
  return fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as AllocWindow)
    .filter((w) => w.pid === pid);
}

/** Runs `load` inside an allocation window of `pid`; the window is undefined if the probe did not answer. */
export async function withAllocWindow<T>(pid: number, file: string, load: () => Promise<T>): Promise<{ result: T; window: AllocWindow | undefined }> {
  const before = lines(file, pid).length;
  process.kill(pid, 'SIGUSR2');
  let result: T;
  try {
    result = await load();
  } finally {
    process.kill(pid, 'SIGUSR2');
  }
  // The probe writes synchronously on the signal; a loaded core may take a moment to run it.
  for (let i = 0; i < 100; i++) {
    const all = lines(file, pid);
    if (all.length > before) return { result, window: all[all.length - 1] };
    await sleep(20);
  }
  return { result, window: undefined };
}
