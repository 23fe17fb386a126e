/** HAProxy as a peer proxy: one thread, keep-alive both sides, config written by the bench. */
import fs from 'node:fs';
import path from 'node:path';
import { waitFor200 } from '../lib/http.js';
import { spawnPinned, stop } from '../lib/procs.js';
import { findBinary, tempDir } from '../lib/tmp.js';
import { diedReason, failureReason, type Started } from './target.js';

function config(port: number, upstreamPort: number): string {
  return `global
  nbthread 1
  maxconn 5000
defaults
  mode http
  timeout connect 5s
  timeout client 60s
  timeout server 60s
  option http-keep-alive
  http-reuse always
frontend fe
  bind 127.0.0.1:${port}
  default_backend app
backend app
  server app1 127.0.0.1:${upstreamPort}
`;
}

export async function startHaproxy(port: number, upstreamPort: number): Promise<Started> {
  const bin = findBinary('haproxy');
  if (!bin) return { ok: false, reason: 'not installed (bench/install-peers.sh)' };
  const dir = tempDir('haproxy');
  const file = path.join(dir, 'haproxy.cfg');
  fs.writeFileSync(file, config(port, upstreamPort));
  // -db: stay in the foreground; -W is not needed with a single process.
  const child = spawnPinned('haproxy', bin, ['-db', '-f', file], { role: 'proxy' });
  try {
    const readyMs = await waitFor200(child, port, '/');
    return { ok: true, port, pid: child.pid, readyMs, stop: () => stop(child).then(() => undefined), died: diedReason(child) };
  } catch (err) {
    await stop(child);
    return { ok: false, reason: failureReason(err) };
  }
}
