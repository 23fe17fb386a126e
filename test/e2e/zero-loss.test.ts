/**
 * Zero loss under change: the real bin under steady keep-alive load, its policy rewritten 20
 * times (the upstream and the timeout change each time), then SIGTERM. Every request that got
 * an answer got the right one (200, its own path echoed); no request failed before the
 * SIGTERM; after it, a request may only be refused without having been accepted (connection
 * refused, or a reused idle connection closed by the drain before it was read, which the
 * upstream then never saw); every request the upstream saw was answered; exit code 0.
 */
import { writeFileSync, mkdtempSync } from 'node:fs';
import { Agent, createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { guardProcess } from '../helpers/guard.js';
import { freePort, runBin, waitReady } from './process.js';

const guard = guardProcess();

interface Outcome {
  readonly path: string;
  readonly afterTerm: boolean;
  /** The answer arrived after the SIGTERM (the request was in flight, or sent during the drain). */
  readonly answeredAfterTerm?: boolean;
  readonly status?: number;
  readonly body?: string;
  readonly error?: string;
}

async function echoUpstream(name: string, seen: Set<string>): Promise<{ server: Server; url: string }> {
  const server = createServer((req, res) => {
    seen.add(req.url ?? '');
    req.resume();
    req.on('end', () =>
      setTimeout(() => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ path: req.url, upstream: name }));
      }, 10),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

function get(agent: Agent, port: number, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, agent, timeout: 10_000 }, (res) => {
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

t.test('many reloads then SIGTERM under steady load: nothing accepted is lost', async (t) => {
  const seen = new Set<string>();
  const a = await echoUpstream('a', seen);
  const b = await echoUpstream('b', seen);
  t.teardown(() => {
    a.server.closeAllConnections();
    b.server.closeAllConnections();
    a.server.close();
    b.server.close();
  });
  const [port, adminPort] = [await freePort(), await freePort()];
  const file = join(mkdtempSync(join(tmpdir(), 'outrider-zero-loss-')), 'outrider.yaml');
  const policy = (i: number): string => `version: 1
admin: { address: 127.0.0.1:${adminPort} }
drainTimeout: 5s
accessLog: off
listeners: [ { name: outbound, address: 127.0.0.1:${port} } ]
upstreams:
  a: { endpoints: [${a.url}] }
  b: { endpoints: [${b.url}] }
routes:
  - { name: all, match: { pathPrefix: / }, upstream: ${i % 2 === 0 ? 'a' : 'b'}, timeout: ${5 + (i % 3)}s }
`;
  writeFileSync(file, policy(0));
  const run = runBin(['--config', file]);
  t.teardown(() => run.child.kill('SIGKILL'));
  await waitReady(adminPort);

  const outcomes: Outcome[] = [];
  let terminated = false;
  let stop = false;
  const agent = new Agent({ keepAlive: true, maxSockets: 8 });
  t.teardown(() => agent.destroy());
  const workers = Array.from({ length: 8 }, async (_, w) => {
    for (let n = 0; !stop && n < 100_000; n++) {
      const path = `/w${w}/${n}`;
      const afterTerm = terminated;
      try {
        const reply = await get(agent, port, path);
        outcomes.push({ path, afterTerm, answeredAfterTerm: terminated, status: reply.status, body: reply.body });
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
        outcomes.push({ path, afterTerm: afterTerm || terminated, error: code });
        if (terminated && code === 'ECONNREFUSED') return; // the listener is gone: this client is done
      }
    }
  });

  const reloads = 20;
  for (let i = 1; i <= reloads; i++) {
    writeFileSync(file, policy(i));
    // Wait until this version is the running one before writing the next.
    for (let k = 0; k < 200; k++) {
      const metrics = await get(new Agent(), adminPort, '/metrics');
      if (new RegExp(`outrider_policy_reloads_total\\{result="applied"\\} ${i}\\b`).test(metrics.body)) break;
      await new Promise((r) => setTimeout(r, 10));
    }
  }
  const beforeTerm = outcomes.length;
  const applied = /outrider_policy_reloads_total\{result="applied"\} (\d+)/.exec((await get(new Agent(), adminPort, '/metrics')).body)?.[1];
  run.child.kill('SIGTERM');
  terminated = true;
  const code = await run.exited;
  stop = true;
  await Promise.all(workers);

  const answered = outcomes.filter((o) => o.status !== undefined);
  const wrong = answered.filter((o) => o.status !== 200 || (JSON.parse(o.body ?? '{}') as { path?: string }).path !== o.path);
  const failedBefore = outcomes.filter((o) => o.error !== undefined && !o.afterTerm);
  const failedAfter = outcomes.filter((o) => o.error !== undefined && o.afterTerm);
  const lost = failedAfter.filter((o) => seen.has(o.path));
  const notAccepted = failedAfter.filter((o) => !seen.has(o.path));

  t.equal(code, 0, 'exit code 0 after the drain');
  t.ok(beforeTerm > 200, `${beforeTerm} requests during ${reloads} reloads`);
  t.equal(applied, String(reloads), 'every reload was applied');
  t.same(wrong.slice(0, 5), [], `every answer was the right one (${answered.length} answers)`);
  t.same(failedBefore.slice(0, 5), [], 'no request failed before the SIGTERM');
  t.same(lost.slice(0, 5), [], 'no request the upstream saw went unanswered');
  t.ok(
    notAccepted.every((o) => ['ECONNREFUSED', 'ECONNRESET', 'socket hang up'].includes(o.error ?? '')),
    `after the SIGTERM only refusals of requests never accepted (${notAccepted.length}: ${[...new Set(notAccepted.map((o) => o.error))].join(', ')})`,
  );
  t.ok(answered.some((o) => o.answeredAfterTerm), 'requests in flight at the SIGTERM were answered');
});

guard.check(t);
