/**
 * Starting Outrider under test: write its policy to a temp file, run `bin/outrider` pinned to
 * the proxy's core, wait for `/readyz`, and read `/status` to learn which layers a route really
 * has, so a scenario whose pattern has not landed is skipped instead of faked.
 */
import fs from 'node:fs';
import path from 'node:path';
import { REPO_DIR } from './build.js';
import { get, waitFor200 } from './http.js';
import { spawnPinned, stop } from './procs.js';
import { diedReason } from '../peers/target.js';
import { tempDir } from './tmp.js';
import { machineRuntime, shippedEnv, type Runtime } from './runtimes.js';

let defaultRuntime: Runtime = machineRuntime();

/** The runtime Outrider runs on unless a scenario says otherwise: the shipped one, once run.ts has it. */
export function setOutriderRuntime(runtime: Runtime): void {
  defaultRuntime = runtime;
}

export function outriderRuntime(): Runtime {
  return defaultRuntime;
}

export interface OutriderOptions {
  /** Run under `node --cpu-prof`, the profile written here when Outrider exits. */
  readonly cpuProfDir?: string | undefined;
  /** The Node.js to run it on; default outriderRuntime(). */
  readonly runtime?: Runtime | undefined;
  /** Another built checkout to run instead of this one (`--baseline DIR`: the code before a change). */
  readonly repoDir?: string | undefined;
  /** Count its heap allocations (alloc-probe.mjs), one JSON line per window appended to this file. */
  readonly allocOut?: string | undefined;
}

export function outriderBuilt(repoDir = REPO_DIR): boolean {
  return fs.existsSync(path.join(repoDir, 'dist', 'main.js'));
}

export interface RunningOutrider {
  readonly ok: true;
  readonly pid: number;
  /** The Node.js it runs on. */
  readonly runtime: Runtime;
  /** Spawn to the first 200 from /readyz. */
  readonly readyMs: number;
  /** The enforced layers of a route per /status, or undefined when /status does not say. */
  layers(route: string): Promise<readonly string[] | undefined>;
  /** The text of GET /metrics, or '' when the admin does not answer. */
  metrics(): Promise<string>;
  /** Why Outrider is gone, if it exited on its own (a crash mid-run). */
  died(): string | undefined;
  /** SIGTERM and wait; resolves with the exit code (the contract says 0 after draining). */
  stop(): Promise<number | null>;
}

export type OutriderStart = RunningOutrider | { readonly ok: false; readonly reason: string };

interface StatusBody {
  readonly routes?: readonly { readonly name?: string; readonly layers?: readonly string[] }[];
}

/**
 * Runs on `options.runtime` (default: the shipped Node when the bench has it) with the image's
 * environment, NODE_OPTIONS and MALLOC_ARENA_MAX (the Dockerfile of the checkout it runs: a
 * baseline keeps its own), so Outrider is measured as a pod runs it.
 */
export async function startOutrider(name: string, policyYaml: string, adminPort: number, options: OutriderOptions = {}): Promise<OutriderStart> {
  const repoDir = options.repoDir ?? REPO_DIR;
  if (!outriderBuilt(repoDir)) return { ok: false, reason: `Outrider is not built (${path.join(repoDir, 'dist', 'main.js')} is missing: npm run build)` };
  const file = path.join(tempDir(name), 'policy.yaml');
  fs.writeFileSync(file, policyYaml);
  const runtime = options.runtime ?? defaultRuntime;
  const profiling = options.cpuProfDir ? ['--cpu-prof', `--cpu-prof-dir=${options.cpuProfDir}`] : [];
  const probe = options.allocOut ? ['--import', path.join(REPO_DIR, 'bench', 'lib', 'alloc-probe.mjs')] : [];
  // NODE_OPTIONS '' first: the runner's own must not reach an image that sets none.
  const env = { ...process.env, NODE_OPTIONS: '', ...shippedEnv(path.join(repoDir, 'Dockerfile')), ...(options.allocOut ? { OUTRIDER_BENCH_ALLOC_OUT: options.allocOut } : {}) };
  const child = spawnPinned(name, runtime.node, [...profiling, ...probe, path.join(repoDir, 'bin', 'outrider'), '--config', file], { role: 'proxy', cwd: repoDir, env });
  let readyMs: number;
  try {
    readyMs = await waitFor200(child, adminPort, '/readyz');
  } catch (err) {
    await stop(child);
    const message = err instanceof Error ? err.message : String(err);
    // The first lines of a rejected policy carry `file:line:column: message`.
    const lines = message.replace(file, 'policy.yaml').split('\n').filter((l) => l.trim() !== '');
    return { ok: false, reason: lines.slice(0, 4).join(' | ') };
  }
  return {
    ok: true,
    pid: child.pid,
    runtime,
    readyMs,
    async layers(route: string) {
      try {
        const reply = await get(adminPort, '/status');
        if (reply.status !== 200) return undefined;
        const body = JSON.parse(reply.body) as StatusBody;
        const found = body.routes?.find((r) => r.name === route);
        return found?.layers;
      } catch {
        return undefined;
      }
    },
    async metrics() {
      try {
        const reply = await get(adminPort, '/metrics');
        return reply.status === 200 ? reply.body : '';
      } catch {
        return '';
      }
    },
    died: diedReason(child),
    stop: () => stop(child, 25_000),
  };
}
