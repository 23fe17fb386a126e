/**
 * zero-loss: nothing accepted is lost while the policy changes and the process drains. Steady
 * keep-alive load goes through Outrider while its policy file is rewritten many times (the
 * upstream and the timeout change each time; each reload is confirmed on /metrics), then it
 * gets SIGTERM with the load still running.
 *
 * Every request is tagged with its own path and the (in-runner) upstreams record what they saw,
 * so each failure can be classified: before the SIGTERM any failure counts; after it, a request
 * may be refused only if it was never accepted (connection refused, or an idle keep-alive
 * connection closed by the drain just as the client wrote on it, which the upstream never saw).
 * A request the upstream saw that got no answer is lost. Every answer must be 200 with its own
 * path echoed. A few requests that the upstream holds are in flight at the SIGTERM by
 * construction, so there is always something the drain could lose.
 */
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { REPO_DIR } from '../lib/build.js';
import { get, waitFor200 } from '../lib/http.js';
import { outriderBuilt } from '../lib/outrider.js';
import { freePorts } from '../lib/ports.js';
import { spawnPinned, stop } from '../lib/procs.js';
import { fmt, sleep } from '../lib/stats.js';
import { tempDir } from '../lib/tmp.js';
import { percentile } from './pattern.js';
import { skipped, type Check, type Scenario } from './types.js';

const SETTINGS = {
  smoke: { rate: 200, durationMs: 3_000, reloads: 5 },
  quick: { rate: 500, durationMs: 10_000, reloads: 20 },
  full: { rate: 1000, durationMs: 30_000, reloads: 50 },
} as const;
const CLIENTS = 16;
const UPSTREAM_DELAY_MS = 5;
/**
 * Requests the upstream holds across the SIGTERM, so some are surely in flight when it lands
 * (the paced load alone often has none at that instant: 200 req/s × 5 ms in --smoke). Without
 * them "nothing accepted was lost" could pass with nothing to lose.
 */
const HELD = 4;
const HELD_MS = 300;

interface Outcome {
  readonly path: string;
  readonly sentAfterTerm: boolean;
  readonly answeredAfterTerm: boolean;
  readonly status?: number;
  readonly body?: string;
  readonly error?: string;
  readonly ms: number;
  /** One of the HELD requests, sent just before the SIGTERM and answered during the drain. */
  readonly held: boolean;
}

/** `inFlight`: requests this upstream has received and not yet answered. */
async function upstream(name: string, seen: Set<string>): Promise<{ server: http.Server; port: number; inFlight(): number }> {
  let inFlight = 0;
  const server = http.createServer((req, res) => {
    seen.add(req.url ?? '');
    inFlight += 1;
    res.once('close', () => (inFlight -= 1));
    req.resume();
    req.on('end', () =>
      setTimeout(
        () => {
          res.writeHead(200, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ path: req.url, upstream: name }));
        },
        req.url?.startsWith('/held/') ? HELD_MS : UPSTREAM_DELAY_MS,
      ),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, port: (server.address() as AddressInfo).port, inFlight: () => inFlight };
}

function policy(i: number, adminPort: number, listenPort: number, a: number, b: number): string {
  return `version: 1
admin: { address: 127.0.0.1:${adminPort} }
drainTimeout: 10s
accessLog: off
listeners: [ { name: outbound, address: 127.0.0.1:${listenPort} } ]
upstreams:
  a: { endpoints: [ "http://127.0.0.1:${a}" ], connections: 32 }
  b: { endpoints: [ "http://127.0.0.1:${b}" ], connections: 32 }
routes:
  - { name: all, match: { pathPrefix: / }, upstream: ${i % 2 === 0 ? 'a' : 'b'}, timeout: ${5 + (i % 3)}s }
# version ${i}
`;
}

function send(agent: http.Agent, port: number, target: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path: target, agent, timeout: 15_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('client timeout')));
    req.on('error', reject);
    req.end();
  });
}

async function appliedReloads(adminPort: number): Promise<number> {
  try {
    const body = (await get(adminPort, '/metrics')).body;
    return Number(/outrider_policy_reloads_total\{result="applied"\} (\d+)/.exec(body)?.[1] ?? 0);
  } catch {
    return -1;
  }
}

export const zeroLoss: Scenario = {
  name: 'zero-loss',
  title: 'Zero loss under change: many reloads, then SIGTERM, under steady load',
  async run(ctx) {
    if (!outriderBuilt()) return skipped('Outrider is not built (dist/main.js is missing: npm run build)');
    const { rate, durationMs, reloads } = SETTINGS[ctx.profile.name];
    const seen = new Set<string>();
    const a = await upstream('a', seen);
    const b = await upstream('b', seen);
    const [adminPort, listenPort] = (await freePorts(2)) as [number, number];
    const file = path.join(tempDir('zero-loss'), 'policy.yaml');
    fs.writeFileSync(file, policy(0, adminPort, listenPort, a.port, b.port));
    const child = spawnPinned('outrider-zero-loss', process.execPath, [path.join(REPO_DIR, 'bin', 'outrider'), '--config', file], { role: 'proxy', cwd: REPO_DIR });
    const agent = new http.Agent({ keepAlive: true, maxSockets: CLIENTS });
    const heldAgent = new http.Agent({ keepAlive: true, maxSockets: HELD });
    try {
      await waitFor200(child, adminPort, '/readyz');
      ctx.log(`  ${rate} req/s over ${CLIENTS} keep-alive connections for ${durationMs / 1000} s, ${reloads} reloads, then SIGTERM`);
      const outcomes: Outcome[] = [];
      let terminated = false;
      let stopping = false;
      const t0 = performance.now();
      const perClientGapMs = (1000 * CLIENTS) / rate;
      /** Sends one request and records how it ended; returns the error code, if any. */
      const request = async (via: http.Agent, target: string, held: boolean): Promise<string | undefined> => {
        const sentAfterTerm = terminated;
        const started = performance.now();
        try {
          const reply = await send(via, listenPort, target);
          outcomes.push({ path: target, sentAfterTerm, answeredAfterTerm: terminated, status: reply.status, body: reply.body, ms: performance.now() - started, held });
          return undefined;
        } catch (err) {
          const error = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
          outcomes.push({ path: target, sentAfterTerm: sentAfterTerm || terminated, answeredAfterTerm: terminated, error, ms: performance.now() - started, held });
          return error;
        }
      };
      const clients = Array.from({ length: CLIENTS }, async (_, c) => {
        await sleep((c * perClientGapMs) / CLIENTS);
        for (let n = 0; !stopping && n < 10_000_000; n++) {
          const due = t0 + (c * perClientGapMs) / CLIENTS + n * perClientGapMs;
          const wait = due - performance.now();
          if (wait > 1) await sleep(wait);
          const error = await request(agent, `/c${c}/${n}`, false);
          if (terminated && error === 'ECONNREFUSED') return;
        }
      });

      // Reloads spread over the window, each confirmed before the next is written.
      let applied = 0;
      for (let i = 1; i <= reloads; i++) {
        await sleep(Math.max(0, t0 + (i * durationMs) / (reloads + 1) - performance.now()));
        fs.writeFileSync(file, policy(i, adminPort, listenPort, a.port, b.port));
        for (let k = 0; k < 300 && (await appliedReloads(adminPort)) < i; k++) await sleep(10);
      }
      applied = await appliedReloads(adminPort);
      await sleep(Math.max(0, t0 + durationMs - performance.now()));
      const heldPaths = Array.from({ length: HELD }, (_, i) => `/held/${i}`);
      const held = heldPaths.map((target) => request(heldAgent, target, true));
      for (let k = 0; k < 400 && !heldPaths.every((p) => seen.has(p)); k++) await sleep(5);
      const beforeTerm = outcomes.length;
      const inFlightAtTerm = a.inFlight() + b.inFlight();
      const termAt = performance.now();
      terminated = true;
      const exitCode = await stop(child, 30_000);
      const drainMs = performance.now() - termAt;
      stopping = true;
      await Promise.all([...clients, ...held]);

      const answered = outcomes.filter((o) => o.status !== undefined);
      const wrong = answered.filter((o) => o.status !== 200 || (JSON.parse(o.body ?? '{}') as { path?: string }).path !== o.path);
      // The held requests were sent before the SIGTERM but are there to be drained: judged with
      // those sent after it (a failure of one the upstream saw is a loss).
      const failedBefore = outcomes.filter((o) => o.error !== undefined && !o.sentAfterTerm && !o.held);
      const failedAfter = outcomes.filter((o) => o.error !== undefined && (o.sentAfterTerm || o.held));
      const lost = failedAfter.filter((o) => seen.has(o.path));
      const refused = failedAfter.filter((o) => !seen.has(o.path));
      const byError = (list: readonly Outcome[]): string => {
        const counts = new Map<string, number>();
        for (const o of list) counts.set(o.error ?? '', (counts.get(o.error ?? '') ?? 0) + 1);
        return counts.size === 0 ? 'none' : [...counts].map(([e, n]) => `${e} ${n}`).join(', ');
      };
      const latencies = answered.filter((o) => !o.answeredAfterTerm).map((o) => o.ms);
      // Every check here is about correctness, so each is functional (asserted in --smoke too).
      const checks: Check[] = [
        { name: 'wrong answers', target: `0 (of at least 1 answered)`, value: `${wrong.length} of ${answered.length}`, pass: answered.length > 0 && wrong.length === 0, source: 'ours', functional: true },
        { name: 'failed requests before SIGTERM (during the reloads)', target: '0', value: `${failedBefore.length} (${byError(failedBefore)})`, pass: failedBefore.length === 0, source: 'ours', functional: true },
        { name: 'requests in flight at SIGTERM (the upstream had them, no answer yet)', target: `> 0 (${HELD} held ${HELD_MS} ms on purpose)`, value: String(inFlightAtTerm), pass: inFlightAtTerm > 0, source: 'ours', functional: true },
        {
          name: 'accepted requests lost (the upstream saw them, the client got no answer)',
          target: '0, with requests in flight at SIGTERM',
          value: inFlightAtTerm > 0 || lost.length > 0 ? String(lost.length) : '0, inconclusive: nothing was in flight at SIGTERM',
          pass: lost.length > 0 ? false : inFlightAtTerm > 0 ? true : null,
          source: 'ours',
          functional: true,
        },
        { name: 'reloads applied', target: String(reloads), value: String(applied), pass: applied === reloads, source: 'ours', functional: true },
        { name: 'exit code after the drain', target: '0', value: String(exitCode), pass: exitCode === 0, source: 'ours', functional: true },
      ];
      return {
        status: 'ok',
        tables: [
          {
            title: `${outcomes.length} requests at ${rate} req/s, ${applied} reloads, then SIGTERM`,
            columns: ['figure', 'value'],
            rows: [
              ['requests sent before SIGTERM', String(beforeTerm)],
              ['in flight at SIGTERM (received by the upstream, not yet answered)', String(inFlightAtTerm)],
              ['answered (all 200 with their own path?)', `${answered.length} (${wrong.length === 0 ? 'yes' : `${wrong.length} wrong`})`],
              ['answered after SIGTERM (in flight or during the drain)', String(answered.filter((o) => o.answeredAfterTerm).length)],
              ['failed before SIGTERM', `${failedBefore.length} (${byError(failedBefore)})`],
              ['refused after SIGTERM, never accepted', `${refused.length} (${byError(refused)})`],
              ['lost: accepted, never answered', String(lost.length)],
              ['latency during the reloads p50 / p99 / max (ms)', `${fmt(percentile(latencies, 50))} / ${fmt(percentile(latencies, 99))} / ${fmt(Math.max(...latencies))}`],
              ['SIGTERM to exit (ms)', fmt(drainMs, 0)],
            ],
            note: `Upstreams answer after ${UPSTREAM_DELAY_MS} ms, so requests are in flight at every reload; ${HELD} more, held ${HELD_MS} ms by the upstream, are in flight at the SIGTERM. Clients: ${CLIENTS} keep-alive connections, paced.`,
          },
        ],
        charts: [],
        checks,
        data: { rate, durationMs, reloads, applied, exitCode, drainMs, inFlightAtTerm, counts: { sent: outcomes.length, answered: answered.length, wrong: wrong.length, failedBefore: failedBefore.length, refused: refused.length, lost: lost.length } },
      };
    } finally {
      agent.destroy();
      heldAgent.destroy();
      await stop(child, 5000);
      a.server.closeAllConnections();
      b.server.closeAllConnections();
      a.server.close();
      b.server.close();
    }
  },
};
