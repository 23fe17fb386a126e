/**
 * `bin/outrider injector` as a process: it says when it is ready (and on which port, asked
 * for as 0), serves /healthz and a review over HTTPS, and exits 0 on SIGTERM; usage errors
 * exit 2 and a certificate it cannot read exits 1. Readiness is its own log line, not a delay.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import t from 'tap';
import { BIN } from '../../e2e/process.js';
import { call, podFrom, review, TLS_DIR } from './fixtures.js';

const TLS = ['--tls-cert', `${TLS_DIR}server.crt`, '--tls-key', `${TLS_DIR}server.key`];

t.test('starts, serves, and stops on SIGTERM with exit 0', async (t) => {
  const child = spawn(process.execPath, [BIN, 'injector', '--address', '127.0.0.1:0', ...TLS, '--policy', 'team-policy', '--image', 'registry.example/outrider:1', '--capture', '--capture-image', 'registry.example/capture:1'], { stdio: ['ignore', 'ignore', 'pipe'] });
  const exited = once(child, 'exit');
  const lines: Record<string, unknown>[] = [];
  const ready = new Promise<Record<string, unknown>>((resolve) => {
    createInterface({ input: child.stderr }).on('line', (line) => {
      const entry = JSON.parse(line) as Record<string, unknown>;
      lines.push(entry);
      if (entry.msg === 'injector ready') resolve(entry);
    });
  });
  const entry = await ready;
  t.match(entry, { level: 'info', name: 'outrider-injector', image: 'registry.example/outrider:1', captureImage: 'registry.example/capture:1', policy: 'team-policy', capture: true });
  const port = Number(String(entry.address).split(':').at(-1));
  t.equal((await call(port, 'GET', '/healthz')).status, 200);
  const answer = (await call(port, 'POST', '/inject', JSON.stringify(review(podFrom({ spec: { containers: [{ name: 'a', image: 'a' }] } }, 'a'))))).json();
  const patch = JSON.parse(Buffer.from(answer.response.patch, 'base64').toString()) as { path: string; value: { name: string; image?: string; configMap?: { name: string } }[] }[];
  const inits = patch.find((op) => op.path === '/spec/initContainers')?.value;
  t.same(inits?.map((c) => c.image), ['registry.example/capture:1', 'registry.example/outrider:1'], '--capture, --capture-image and --image reach the pod');
  t.equal(patch.find((op) => op.path === '/spec/volumes')?.value[0]?.configMap?.name, 'team-policy', '--policy reaches the volume');
  child.kill('SIGTERM');
  const [code] = await exited;
  t.equal(code, 0);
  t.ok(lines.some((l) => l.msg === 'injector: shutting down' && l.signal === 'SIGTERM'));
});

t.test('usage errors exit 2; an unreadable certificate exits 1', async (t) => {
  const run = async (args: string[]): Promise<{ code: number | null; stderr: string }> => {
    const child = spawn(process.execPath, [BIN, 'injector', ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const [code] = (await once(child, 'close')) as [number | null];
    return { code, stderr };
  };
  const cases: [string[], number, RegExp][] = [
    [[], 2, /--tls-cert and --tls-key are required/],
    [['--tls-cert', 'a.crt'], 2, /--tls-cert and --tls-key are required/],
    [[...TLS, '--address', '8443'], 2, /--address: HOST:PORT/],
    [[...TLS, '--address', '0.0.0.0:99999'], 2, /--address: HOST:PORT/],
    [[...TLS, '--policy', 'UPPER'], 2, /--policy: "UPPER" is not a ConfigMap name/],
    [[...TLS, 'extra'], 2, /unexpected argument extra/],
    [[...TLS, '--port', '1'], 2, /unknown flag --port/],
    [['--tls-cert', '/nonexistent.crt', '--tls-key', '/nonexistent.key', '--address', '127.0.0.1:0'], 1, /failed to start: ENOENT/],
  ];
  for (const [args, code, message] of cases) {
    const ran = await run(args);
    t.equal(ran.code, code, args.join(' ') || '(no flags)');
    t.match(ran.stderr, message);
    if (code === 2) t.match(ran.stderr, /Usage: outrider injector/);
  }
});
