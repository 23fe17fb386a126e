/**
 * Which Node.js runs Outrider in the bench. The image ships one major (the Dockerfile's runtime
 * stage); this machine has another. The bench measures Outrider on the shipped one and, where a
 * scenario compares them, on the machine's too, and says which is which in every table and in
 * results.json.
 *
 * The shipped runtime comes from the npm registry, by the bench's own set-up: the package
 * `node-<platform>-<arch>@<major>` (what `npm install node` itself pulls in) holds the official
 * binary. It is unpacked once into bench/.runtimes/ and reused; delete that folder to take a
 * newer patch release. When the machine's Node already is the shipped major, nothing is fetched.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { BENCH_DIR, REPO_DIR } from './build.js';

export interface Runtime {
  /** Path of the `node` binary. */
  readonly node: string;
  /** `v24.22.3`. */
  readonly version: string;
  /** "node 24" as it appears in target names. */
  readonly label: string;
  /** Where it came from, for results.json. */
  readonly source: string;
}

export type RuntimeResult = ({ readonly ok: true } & Runtime) | { readonly ok: false; readonly reason: string };

const RUNTIMES_DIR = path.join(BENCH_DIR, '.runtimes');

function labelOf(version: string): string {
  return `node ${version.replace(/^v/, '').split('.')[0] ?? ''}`;
}

/** The machine's Node: the one running the bench, its generator and its peers. */
export function machineRuntime(): Runtime {
  return { node: process.execPath, version: process.version, label: labelOf(process.version), source: 'this machine' };
}

/** The major of the image's runtime stage: `FROM gcr.io/distroless/nodejs24-…` or `FROM node:24-…`. */
export function shippedMajor(dockerfile = path.join(REPO_DIR, 'Dockerfile')): number | undefined {
  const froms = fs.readFileSync(dockerfile, 'utf8').split('\n').filter((l) => /^FROM\s/i.test(l));
  // The last stage is what runs; fall back to any node stage.
  const runtime = froms.find((l) => /\bAS\s+runtime\b/i.test(l)) ?? froms.at(-1) ?? '';
  const match = /nodejs(\d+)-|\bnode:(\d+)/.exec(runtime) ?? froms.map((l) => /\bnode:(\d+)/.exec(l)).find(Boolean);
  const major = match ? Number(match[1] ?? match[2]) : NaN;
  return Number.isInteger(major) ? major : undefined;
}

/**
 * The environment the image's runtime stage sets (its `ENV KEY=VALUE` lines: NODE_OPTIONS, the
 * heap sizes; MALLOC_ARENA_MAX, glibc's arenas), so Outrider is measured as it runs in a pod.
 * test/k8s/node-options.test.ts checks this against dockerfile-ast's reading of the same file.
 */
export function shippedEnv(dockerfile = path.join(REPO_DIR, 'Dockerfile')): Record<string, string> {
  const text = fs.readFileSync(dockerfile, 'utf8');
  const runtimeStage = text.slice(text.search(/^FROM\s.*\bAS\s+runtime\b/im) >>> 0);
  const env: Record<string, string> = {};
  for (const match of runtimeStage.matchAll(/^ENV\s+(\w+)=(?:"([^"]*)"|(\S+))\s*$/gm)) env[match[1] as string] = (match[2] ?? match[3] ?? '').trim();
  return env;
}

/** The image's NODE_OPTIONS; empty when the Dockerfile sets none. */
export function shippedNodeOptions(dockerfile = path.join(REPO_DIR, 'Dockerfile')): string {
  return shippedEnv(dockerfile).NODE_OPTIONS ?? '';
}

function versionOf(node: string): string | undefined {
  try {
    return execFileSync(node, ['--version'], { encoding: 'utf8', timeout: 10_000 }).trim();
  } catch {
    return undefined;
  }
}

/** An already unpacked runtime of this major, newest first. */
function unpacked(major: number): Runtime | undefined {
  if (!fs.existsSync(RUNTIMES_DIR)) return undefined;
  const dirs = fs.readdirSync(RUNTIMES_DIR).filter((d) => d.startsWith(`node-v${major}.`)).sort().reverse();
  for (const dir of dirs) {
    const node = path.join(RUNTIMES_DIR, dir, 'bin', 'node');
    const version = versionOf(node);
    if (version) return { node, version, label: labelOf(version), source: `npm registry, node-${process.platform}-${process.arch} (${path.relative(REPO_DIR, node)})` };
  }
  return undefined;
}

/** `npm pack` the platform package of `major` and unpack it under bench/.runtimes/node-vX.Y.Z. */
function install(major: number, log: (m: string) => void): void {
  const pkg = `node-${process.platform}-${process.arch}@${major}`;
  log(`  bench: fetching Node ${major} (${pkg}) from the npm registry into ${path.relative(REPO_DIR, RUNTIMES_DIR)}/`);
  fs.mkdirSync(RUNTIMES_DIR, { recursive: true });
  const staging = fs.mkdtempSync(path.join(RUNTIMES_DIR, '.staging-'));
  try {
    const packed = JSON.parse(execFileSync('npm', ['pack', pkg, '--json', '--pack-destination', staging], { encoding: 'utf8', timeout: 300_000 })) as { filename: string; version: string }[];
    const tarball = packed[0];
    if (!tarball) throw new Error(`npm pack ${pkg} gave no tarball`);
    execFileSync('tar', ['xzf', path.join(staging, tarball.filename), '-C', staging], { timeout: 120_000 });
    fs.renameSync(path.join(staging, 'package'), path.join(RUNTIMES_DIR, `node-v${tarball.version}`));
  } finally {
    fs.rmSync(staging, { recursive: true, force: true });
  }
}

/** The shipped runtime, fetched on first use. Never throws: a failure is a reason to report. */
export function shippedRuntime(log: (m: string) => void): RuntimeResult {
  let major: number | undefined;
  try {
    major = shippedMajor();
  } catch (err) {
    return { ok: false, reason: `cannot read the Dockerfile: ${(err as Error).message}` };
  }
  if (major === undefined) return { ok: false, reason: 'the Dockerfile names no Node.js major in its runtime stage' };
  const machine = machineRuntime();
  if (machine.label === `node ${major}`) return { ok: true, ...machine };
  const found = unpacked(major);
  if (found) return { ok: true, ...found };
  try {
    install(major, log);
  } catch (err) {
    return { ok: false, reason: `could not fetch Node ${major} from the npm registry: ${(err as Error).message.split('\n')[0]}` };
  }
  const installed = unpacked(major);
  return installed ? { ok: true, ...installed } : { ok: false, reason: `Node ${major} was fetched but does not run here` };
}
