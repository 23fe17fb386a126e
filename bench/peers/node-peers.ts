/** Starts the Node peers (undici and http-proxy pass-throughs) as pinned processes. */
import { bundlePath, type Entry } from '../lib/build.js';
import { waitFor200 } from '../lib/http.js';
import { spawnPinned, stop } from '../lib/procs.js';
import { machineRuntime, type Runtime } from '../lib/runtimes.js';
import { diedReason, failureReason, type Started } from './target.js';

async function startNodePeer(entry: Entry, name: string, port: number, upstreamPort: number, runtime: Runtime): Promise<Started> {
  const args = [bundlePath(entry), String(port), `http://127.0.0.1:${upstreamPort}`, '64'];
  const child = spawnPinned(name, runtime.node, args, { role: 'proxy' });
  try {
    const readyMs = await waitFor200(child, port, '/');
    return { ok: true, port, pid: child.pid, readyMs, stop: () => stop(child).then(() => undefined), died: diedReason(child) };
  } catch (err) {
    await stop(child);
    return { ok: false, reason: failureReason(err) };
  }
}

/** On the machine's Node unless told (issue 16 compares Outrider with it on the shipped one). */
export const startUndiciPeer = (port: number, upstreamPort: number, runtime = machineRuntime()): Promise<Started> =>
  startNodePeer('undiciPeer', 'undici-peer', port, upstreamPort, runtime);

export const startHttpProxyPeer = (port: number, upstreamPort: number): Promise<Started> =>
  startNodePeer('httpProxyPeer', 'http-proxy-peer', port, upstreamPort, machineRuntime());
