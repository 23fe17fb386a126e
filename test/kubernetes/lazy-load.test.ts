/**
 * @kubernetes/client-node costs about half a second and tens of MB to import, so the sidecar
 * imports it only when an upstream uses `kubernetes:` (upstream.ts #discover). The real binary
 * is started twice with a module hook that records every module resolved under that package
 * (test/fixtures/loader): a policy with listed endpoints must load none of it; one with a
 * `kubernetes:` upstream (against the STAND-IN API server of test/helpers/kube-api.ts) loads it.
 * Start-to-ready times are printed as comments, not asserted (they depend on the machine).
 */
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import t from 'tap';
import { request } from 'undici';
import { BIN, freePort } from '../e2e/process.js';
import { until } from '../helpers/held.js';
import { KubeApiStandIn, slice } from '../helpers/kube-api.js';

const HOOK = new URL('../fixtures/loader/record-kubernetes-imports.mjs', import.meta.url).href;

async function start(upstream: string, env: NodeJS.ProcessEnv): Promise<{ loaded: string[]; readyMs: number }> {
  const dir = mkdtempSync(join(tmpdir(), 'outrider-lazy-'));
  const log = join(dir, 'imports.log');
  const admin = await freePort();
  const policy = join(dir, 'outrider.yaml');
  writeFileSync(policy, `version: 1\nadmin: { address: 127.0.0.1:${admin} }\naccessLog: off\nlisteners: [ { name: outbound, address: 127.0.0.1:0 } ]\nupstreams: { app: ${upstream} }\nroutes: [ { name: all, upstream: app } ]\n`);
  const began = Date.now();
  const child = spawn(process.execPath, ['--import', HOOK, BIN, '--config', policy], { stdio: 'ignore', env: { ...env, OUTRIDER_IMPORT_LOG: log } });
  const exited = new Promise((resolve) => child.on('exit', resolve));
  try {
    // The hook slows every import down (the package has some 1,900 modules): a generous bound.
    await until(() => ready(admin), 'the sidecar to be ready', 60_000);
    const readyMs = Date.now() - began;
    return { loaded: existsSync(log) ? readFileSync(log, 'utf8').split('\n').filter(Boolean) : [], readyMs };
  } finally {
    child.kill('SIGTERM');
    await exited;
  }
}

async function ready(admin: number): Promise<boolean> {
  try {
    const res = await request(`http://127.0.0.1:${admin}/readyz`);
    await res.body.dump();
    return res.statusCode === 200;
  } catch {
    return false;
  }
}

// The test runner's NODE_OPTIONS would load its own hooks into the child; the child gets a plain environment.
const plain = Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== 'NODE_OPTIONS' && !/^_?TAP/.test(k)));

t.test('listed endpoints: @kubernetes/client-node is never loaded', async (t) => {
  const { loaded, readyMs } = await start('{ endpoints: [http://127.0.0.1:9] }', plain);
  t.same(loaded, [], 'no module of the package was resolved');
  t.comment(`start to ready: ${readyMs} ms`);
});

t.test('a kubernetes: upstream: the package is loaded (so the hook does see it)', async (t) => {
  const api = await KubeApiStandIn.start();
  t.teardown(() => api.close());
  api.apply(slice('app-a', 'app', [['127.0.0.2', true]], { name: 'http', port: 8080 }));
  const kubeconfig = api.kubeconfig(mkdtempSync(join(tmpdir(), 'outrider-kube-')));
  const { loaded, readyMs } = await start('{ kubernetes: { service: app, namespace: shop, port: http } }', { ...plain, KUBECONFIG: kubeconfig });
  t.ok(loaded.some((url) => url.endsWith('/@kubernetes/client-node/dist/index.js')), 'its index was resolved');
  t.ok(api.counts.lists >= 1, 'and it listed the slices before ready');
  t.comment(`start to ready: ${readyMs} ms`);
});
