/**
 * CPU time and memory of a process and its descendants, read from /proc (Linux only; elsewhere
 * the figures are reported as unavailable rather than guessed).
 */
import fs from 'node:fs';

/** USER_HZ: the kernel reports CPU times in these ticks; 100 on every Linux we run on. */
const TICKS_PER_SECOND = 100;

function read(file: string): string | undefined {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}

/** The process and its descendants (nginx's master and worker, for instance), at most 4 deep. */
export function processTree(pid: number, depth = 0): number[] {
  const children = read(`/proc/${pid}/task/${pid}/children`);
  const pids = [pid];
  if (!children || depth >= 4) return pids;
  for (const child of children.trim().split(/\s+/)) if (child) pids.push(...processTree(Number(child), depth + 1));
  return pids;
}

/** utime + stime in seconds, summed over the tree; undefined when /proc is not there. */
export function cpuSeconds(pid: number): number | undefined {
  let ticks = 0;
  let found = false;
  for (const p of processTree(pid)) {
    const stat = read(`/proc/${p}/stat`);
    if (!stat) continue;
    // Fields after the command name, which is in parentheses and may hold spaces.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    ticks += Number(fields[11]) + Number(fields[12]); // utime, stime (fields 14 and 15 of stat)
    found = true;
  }
  return found ? ticks / TICKS_PER_SECOND : undefined;
}

function statusKiB(pid: number, field: 'VmRSS' | 'VmHWM' | 'RssAnon'): number | undefined {
  let total = 0;
  let found = false;
  for (const p of processTree(pid)) {
    const status = read(`/proc/${p}/status`);
    const match = status?.match(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm'));
    if (!match) continue;
    total += Number(match[1]);
    found = true;
  }
  return found ? total : undefined;
}

/**
 * The private part of RSS, in MiB, summed over the tree: anonymous pages (heap, stacks, malloc).
 * The rest of RSS is file pages, mostly the executable's, which the page cache shares between
 * every process that maps the same file: what a pod adds to a node is nearer this figure.
 */
export function rssAnonMiB(pid: number): number | undefined {
  return toMiB(statusKiB(pid, 'RssAnon'));
}

/** Resident memory now, in MiB, summed over the tree. */
export function rssMiB(pid: number): number | undefined {
  return toMiB(statusKiB(pid, 'VmRSS'));
}

/** KiB to MiB, one decimal. */
function toMiB(kib: number | undefined): number | undefined {
  return kib === undefined ? undefined : Math.round((kib / 1024) * 10) / 10;
}

/** Peak resident memory since start (high-water mark), in MiB, summed over the tree. */
export function peakRssMiB(pid: number): number | undefined {
  return toMiB(statusKiB(pid, 'VmHWM'));
}

/**
 * Busy time of one CPU core in seconds since boot (everything but idle and iowait, from
 * /proc/stat's `cpuN` line); undefined when /proc/stat is not there. The difference over a
 * window, less what the process under test used, is what other processes took from its core.
 */
export function coreBusySeconds(core: number): number | undefined {
  const line = read('/proc/stat')?.split('\n').find((l) => l.startsWith(`cpu${core} `));
  if (!line) return undefined;
  const ticks = line.trim().split(/\s+/).slice(1).map(Number);
  const idle = (ticks[3] ?? 0) + (ticks[4] ?? 0);
  const total = ticks.slice(0, 8).reduce((a, b) => a + b, 0);
  return (total - idle) / TICKS_PER_SECOND;
}
