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

export function outriderBuilt(): boolean {
  return fs.existsSync(path.join(REPO_DIR, 'dist', 'main.js'));
}

export interface RunningOutrider {
  readonly ok: true;
  readonly pid: number;
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

/** `cpuProfDir`: run with `node --cpu-prof`, the profile written there when Outrider exits. */
export async function startOutrider(name: string, policyYaml: string, adminPort: number, cpuProfDir?: string): Promise<OutriderStart> {
  if (!outriderBuilt()) return { ok: false, reason: 'Outrider is not built (dist/main.js is missing: npm run build)' };
  const file = path.join(tempDir(name), 'policy.yaml');
  fs.writeFileSync(file, policyYaml);
  const profiling = cpuProfDir ? ['--cpu-prof', `--cpu-prof-dir=${cpuProfDir}`] : [];
  const child = spawnPinned(name, process.execPath, [...profiling, path.join(REPO_DIR, 'bin', 'outrider'), '--config', file], { role: 'proxy', cwd: REPO_DIR });
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
