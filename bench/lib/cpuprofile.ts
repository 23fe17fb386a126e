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

export function hotFunctions(file: string, top = 15): HotFunction[] {
  const profile = JSON.parse(fs.readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const hits = new Map<string, number>();
  let total = 0;
  const add = (node: ProfileNode | undefined, count: number): void => {
    if (!node) return;
    const f = node.callFrame;
    const key = `${f.functionName || '(anonymous)'} ${where(f.url, f.lineNumber)}`.trim();
    hits.set(key, (hits.get(key) ?? 0) + count);
    total += count;
  };
  if (profile.samples && profile.samples.length > 0) {
    for (const id of profile.samples) add(byId.get(id), 1);
  } else {
    for (const node of profile.nodes) add(node, node.hitCount ?? 0);
  }
  return [...hits]
    .sort((a, b) => b[1] - a[1])
    .slice(0, top)
    .map(([name, count]) => ({ name, selfPercent: total === 0 ? 0 : Math.round((count / total) * 1000) / 10 }));
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
