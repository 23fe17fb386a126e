/**
 * Logs that show up on a quiet pod (issue 11): the real binary's ready line is on stderr as
 * soon as it is ready, one access-log line is on stdout within a second of its request though
 * it is far short of the 4 KiB write batch, and every line is there after a SIGTERM exit.
 * Before the fix a quiet pod showed nothing at all for 5 s and more.
 */
import t from 'tap';
import { request } from 'undici';
import { until } from '../helpers/held.js';
import { simplePolicy, writePolicy } from '../helpers/sidecar.js';
import { startUpstream } from '../helpers/upstream.js';
import { freePort, runBin, waitReady } from './process.js';

t.test('ready line at once, access lines within a second, all of them flushed on exit', async (t) => {
  const up = await startUpstream();
  const [listen, admin] = [await freePort(), await freePort()];
  const policy = simplePolicy(up.url)
    .replace('admin: { address: 127.0.0.1:0 }', `admin: { address: 127.0.0.1:${admin} }`)
    .replace('address: 127.0.0.1:0 }', `address: 127.0.0.1:${listen} }`);
  const bin = runBin(['--config', writePolicy(policy)]);
  t.teardown(async () => {
    bin.child.kill('SIGKILL');
    await up.close();
  });
  await waitReady(admin);
  // Written before /readyz could answer 200; the bound only covers the pipe to this process.
  await until(() => bin.stderr.join('').includes('"msg":"outrider ready"'), 'the ready line on stderr', 1000);
  t.pass('the ready line is on stderr once the sidecar is ready');

  const first = await request(`http://127.0.0.1:${listen}/quiet-1`);
  await first.body.dump();
  const sentAt = Date.now();
  await until(() => bin.stdout.join('').includes('"path":"/quiet-1"'), 'the access line on stdout', 1000);
  t.ok(Date.now() - sentAt <= 1000, `one access-log line (~300 bytes) visible after ${Date.now() - sentAt} ms`);

  for (let i = 2; i <= 4; i++) await (await request(`http://127.0.0.1:${listen}/quiet-${i}`)).body.dump();
  bin.child.kill('SIGTERM');
  t.equal(await bin.exited, 0, 'a clean exit after SIGTERM');
  const lines = bin.stdout.join('').trim().split('\n');
  t.same(
    lines.map((l) => (JSON.parse(l) as { path: string }).path),
    ['/quiet-1', '/quiet-2', '/quiet-3', '/quiet-4'],
    'every access-log line is out at exit',
  );
  t.match(bin.stderr.join(''), /"msg":"stopped"/, 'and the last operational line');
});
