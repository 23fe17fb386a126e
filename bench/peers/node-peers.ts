/** Starts the Node peers (undici and http-proxy pass-throughs) as pinned processes. */
import { bundlePath, type Entry } from '../lib/build.js';
import { waitFor200 } from '../lib/http.js';
import { spawnPinned, stop } from '../lib/procs.js';
import { diedReason, failureReason, type Started } from './target.js';

async function startNodePeer(entry: Entry, name: string, port: number, upstreamPort: number): Promise<Started> {
  const args = [bundlePath(entry), String(port), `http://127.0.0.1:${upstreamPort}`, '64'];
  const child = spawnPinned(name, process.execPath, args, { role: 'proxy' });
  try {
    const readyMs = await waitFor200(child, port, '/');
    return { ok: true, port, pid: child.pid, readyMs, stop: () => stop(child).then(() => undefined), died: diedReason(child) };
  } catch (err) {
    await stop(child);
    return { ok: false, reason: failureReason(err) };
  }
}

export const startUndiciPeer = (port: number, upstreamPort: number): Promise<Started> =>
  startNodePeer('undiciPeer', 'undici-peer', port, upstreamPort);

export const startHttpProxyPeer = (port: number, upstreamPort: number): Promise<Started> =>
  startNodePeer('httpProxyPeer', 'http-proxy-peer', port, upstreamPort);
