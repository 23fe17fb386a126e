/**
 * Bundles the bench's child-process entry points (load generator, upstream simulator, Node
 * peers) to plain JavaScript with esbuild before a run. The children then start with plain
 * `node`, with no TypeScript loader in them, so the peers' start-up time and RSS are their own
 * and not tsx's, and every child starts in tens of milliseconds.
 */
import { build } from 'esbuild';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const BENCH_DIR = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
export const REPO_DIR = path.dirname(BENCH_DIR);
/** Inside node_modules so bare imports (undici, hdr-histogram-js) resolve from the bundles. */
const OUT_DIR = path.join(REPO_DIR, 'node_modules', '.cache', 'outrider-bench');

export const ENTRIES = {
  loadgen: 'loadgen/worker.ts',
  ticker: 'loadgen/ticker.ts',
  sim: 'upstreams/sim.ts',
  wsEcho: 'upstreams/ws-echo.ts',
  grpcEcho: 'upstreams/grpc-echo.ts',
  grpcLoad: 'loadgen/grpc-load.ts',
  undiciPeer: 'peers/undici-peer.ts',
  httpProxyPeer: 'peers/http-proxy-peer.ts',
} as const;

export type Entry = keyof typeof ENTRIES;

export function bundlePath(entry: Entry): string {
  return path.join(OUT_DIR, `${entry}.mjs`);
}

export async function buildChildren(): Promise<void> {
  await build({
    entryPoints: Object.fromEntries(Object.entries(ENTRIES).map(([name, file]) => [name, path.join(BENCH_DIR, file)])),
    outdir: OUT_DIR,
    outExtension: { '.js': '.mjs' },
    bundle: true,
    packages: 'external',
    platform: 'node',
    format: 'esm',
    target: 'node20',
    logLevel: 'warning',
  });
}
