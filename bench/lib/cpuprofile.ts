/**
 * Reads a V8 `.cpuprofile` (what `node --cpu-prof` writes on exit) and lists where the time
 * went: self time per function, heaviest first. Enough to say what limits a figure without
 * opening a flame graph; the file itself opens in Chrome DevTools or speedscope for one.
 */
import fs from 'node:fs';
import path from 'node:path';

interface ProfileNode {
  readonly id: number;
  readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number };
  readonly hitCount?: number;
}

interface CpuProfile {
  readonly nodes: readonly ProfileNode[];
  readonly samples?: readonly number[];
  readonly timeDeltas?: readonly number[];
}

export interface HotFunction {
  readonly name: string;
  /** Share of all samples spent in this function itself (not its callees), 0-100. */
  readonly selfPercent: number;
}

/** Shortens node_modules and repo paths so the table stays readable. */
function where(url: string, line: number): string {
  if (!url) return '';
  const clean = url.replace(/^file:\/\//, '');
  const nm = clean.lastIndexOf('node_modules/');
  const short = nm >= 0 ? clean.slice(nm + 'node_modules/'.length) : clean.startsWith('node:') ? clean : path.relative(process.cwd(), clean);
  return `${short}:${line + 1}`;
}

/** Which package or area a frame belongs to: an npm package, node internals, or a repo folder. */
function moduleOf(url: string): string {
  if (!url) return '(native / V8)';
  const clean = url.replace(/^file:\/\//, '');
  const nm = clean.lastIndexOf('node_modules/');
  if (nm >= 0) {
    const rest = clean.slice(nm + 'node_modules/'.length).split('/');
    return (rest[0]?.startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0]) ?? clean;
  }
  if (clean.startsWith('node:')) return 'node internals';
  const rel = path.relative(process.cwd(), clean).split(path.sep);
  return rel.length > 2 ? rel.slice(0, 2).join('/') : rel.join('/');
}

export interface ProfileSummary {
  /** Share of samples in which the process was busy (not idle), 0-100. */
  readonly busyPercent: number;
  /** Self time per function, as a share of busy samples. */
  readonly functions: readonly HotFunction[];
  /** Self time per package or source folder, as a share of busy samples. */
  readonly modules: readonly HotFunction[];
}

/** Self time per function and per module, idle time left out (the load comes and goes). */
export function summarizeProfile(file: string, top = 12): ProfileSummary {
  const profile = JSON.parse(fs.readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const functions = new Map<string, number>();
  const modules = new Map<string, number>();
  let busy = 0;
  let idle = 0;
  const add = (node: ProfileNode | undefined, count: number): void => {
    if (!node) return;
    const f = node.callFrame;
    if (f.functionName === '(idle)') {
      idle += count;
      return;
    }
    const key = `${f.functionName || '(anonymous)'} ${where(f.url, f.lineNumber)}`.trim();
    functions.set(key, (functions.get(key) ?? 0) + count);
    const mod = f.functionName === '(garbage collector)' || f.functionName === '(program)' ? f.functionName : moduleOf(f.url);
    modules.set(mod, (modules.get(mod) ?? 0) + count);
    busy += count;
  };
  if (profile.samples && profile.samples.length > 0) {
    for (const id of profile.samples) add(byId.get(id), 1);
  } else {
    for (const node of profile.nodes) add(node, node.hitCount ?? 0);
  }
  const ranked = (m: Map<string, number>): HotFunction[] =>
    [...m]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([name, count]) => ({ name, selfPercent: busy === 0 ? 0 : Math.round((count / busy) * 1000) / 10 }));
  const total = busy + idle;
  return { busyPercent: total === 0 ? 0 : Math.round((busy / total) * 1000) / 10, functions: ranked(functions), modules: ranked(modules) };
}

/** The newest `.cpuprofile` in a directory, if any. */
export function newestProfile(dir: string): string | undefined {
  if (!fs.existsSync(dir)) return undefined;
  const files = fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.cpuprofile'))
    .map((f) => path.join(dir, f))
    .sort((a, b) => fs.statSync(b).mtimeMs - fs.statSync(a).mtimeMs);
  return files[0];
}

/**
 * The areas of issue 16's "where the time goes" table, from a module of summarizeProfile:
 * Node's own HTTP and streams, undici, our code by folder, metrics, logging, GC, and V8.
 */
export function areaOf(module: string): string {
  if (module === '(garbage collector)') return 'GC';
  if (module === '(program)' || module === '(native / V8)') return 'V8 and native code';
  if (module === 'node internals') return 'Node internals (http, net, streams, timers)';
  if (module === 'undici') return 'undici';
  if (['prom-client', 'tdigest', 'bintrees'].includes(module)) return 'metrics (prom-client)';
  if (module.startsWith('pino') || ['sonic-boom', 'thread-stream', 'fast-redact', 'quick-format-unescaped', 'atomic-sleep'].includes(module)) return 'logging (pino)';
  if (module.startsWith('dist/') || module.startsWith('dist')) return `ours: ${module.replace(/^dist\/?/, '').replace(/\.js$/, '') || '.'}`;
  return `other: ${module}`;
}

/** Self time per area as a share of busy time, largest first; "ours" is also given as a total. */
export function areas(summary: ProfileSummary): { readonly area: string; readonly percent: number }[] {
  const byArea = new Map<string, number>();
  let ours = 0;
  for (const m of summary.modules) {
    const area = areaOf(m.name);
    byArea.set(area, (byArea.get(area) ?? 0) + m.selfPercent);
    if (area.startsWith('ours: ')) ours += m.selfPercent;
  }
  byArea.set('ours (all of src/)', ours);
  return [...byArea].map(([area, percent]) => ({ area, percent: Math.round(percent * 10) / 10 })).sort((a, b) => b.percent - a.percent);
}
