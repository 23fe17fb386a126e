/** Small HTTP helpers for the runner: one-off GETs and readiness polling (never on the hot path). */
import http from 'node:http';
import type { Child } from './procs.js';

export interface Reply {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: string;
}

export function get(port: number, path: string, timeoutMs = 2000, headers: http.OutgoingHttpHeaders = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path, agent: false, timeout: timeoutMs, headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c.length + body.length < 1 << 20 ? c : ''));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Polls until `GET path` answers 200; returns milliseconds from the child's spawn (start to
 * ready). Throws with the child's output if it exits first or the deadline passes.
 */
export async function waitFor200(child: Child, port: number, path: string, deadlineMs = 10_000): Promise<number> {
  let exited: number | null | undefined;
  void child.exited.then((code) => (exited = code));
  const until = performance.now() + deadlineMs;
  // Bounded by the deadline; 2 ms polls keep the start-to-ready time accurate.
  while (performance.now() < until) {
    if (exited !== undefined) throw new Error(`${child.name} exited (${exited}) before it was ready:\n${child.output().trim()}`);
    try {
      const reply = await get(port, path, 500);
      if (reply.status === 200) return Math.round(performance.now() - child.spawnedAt);
    } catch {
      /* not listening yet */
    }
    await sleep(2);
  }
  throw new Error(`${child.name} was not ready within ${deadlineMs} ms:\n${child.output().trim()}`);
}
