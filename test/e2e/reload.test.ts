import { mkdirSync, mkdtempSync, renameSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import t from 'tap';
import { Sidecar } from '../../src/sidecar.js';
import { send } from '../helpers/http.js';
import { startSidecar } from '../helpers/sidecar.js';
import { startUpstream, type TestUpstream } from '../helpers/upstream.js';

function policy(a: TestUpstream, b: TestUpstream, target: 'a' | 'b', extra = ''): string {
  return `version: 1
admin: { address: 127.0.0.1:0 }
listeners: [ { name: outbound, address: 127.0.0.1:0 } ]
upstreams:
  a: { endpoints: [${a.url}] }
  b: { endpoints: [${b.url}] }
routes:
  - name: all
    match: { pathPrefix: / }
    upstream: ${target}
${extra}`;
}

async function waitFor(check: () => Promise<boolean>, what: string): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 30));
  }
  throw new Error(`timed out waiting for ${what}`);
}

t.test('a valid change is applied under load with zero failed requests', async (t) => {
  const a = await startUpstream();
  const b = await startUpstream();
  const proxy = await startSidecar(policy(a, b, 'a'), { watch: true });
  t.teardown(async () => {
    await proxy.close();
    await a.close();
    await b.close();
  });

  const statuses: number[] = [];
  const failures: unknown[] = [];
  let running = true;
  // Four clients in a loop, bounded by the flag and by a count.
  const clients = Array.from({ length: 4 }, async () => {
    for (let i = 0; running && i < 2000; i++) {
      try {
        statuses.push((await send(proxy.url(), `/r${i}`)).status);
      } catch (err) {
        failures.push(err);
      }
    }
  });
  for (let i = 0; i < 6; i++) {
    const target = i % 2 === 0 ? 'b' : 'a';
    proxy.rewrite(policy(a, b, target, `# reload ${i}\n    timeout: ${i + 2}s\n`));
    await waitFor(async () => {
      const config = (await proxy.admin('/config')).json() as { routes: { upstream: string }[] };
      return config.routes[0]?.upstream === target;
    }, `reload ${i}`);
  }
  running = false;
  await Promise.all(clients);

  t.equal(failures.length, 0, 'no request failed at the transport level');
  t.ok(statuses.length > 20, `${statuses.length} requests were sent during the reloads`);
  t.same([...new Set(statuses)], [200], 'every request got 200');
  t.ok(a.requests.length > 0 && b.requests.length > 0, 'traffic moved between upstreams');
  const metrics = (await proxy.admin('/metrics')).body;
  t.match(metrics, /outrider_policy_reloads_total\{result="applied"\} 6/);
});

t.test('an invalid change is logged and the running policy stays', async (t) => {
  const a = await startUpstream();
  const b = await startUpstream();
  const proxy = await startSidecar(policy(a, b, 'a'));
  t.teardown(async () => {
    await proxy.close();
    await a.close();
    await b.close();
  });

  proxy.rewrite(policy(a, b, 'b').replace('upstream: b', 'upstream: nowhere'));
  const outcome = await proxy.sidecar.reload();
  t.equal(outcome.result, 'rejected');
  if (outcome.result === 'rejected') t.match(outcome.issues[0], /outrider\.yaml:\d+:\d+: .*nowhere/);
  const logged = proxy.opsLog.lines.find((l) => l.msg === 'policy reload rejected; the running policy stays');
  t.ok(logged, 'the rejection is logged with its errors');

  const reply = await send(proxy.url(), '/still');
  t.equal(reply.status, 200);
  t.equal(a.requests.length, 1, 'the old policy still routes to a');
  const config = (await proxy.admin('/config')).json() as { routes: { upstream: string }[] };
  t.equal(config.routes[0]?.upstream, 'a');

  proxy.rewrite('version: 1\nlisteners: [ { name: x');
  const broken = await proxy.sidecar.reload();
  t.equal(broken.result, 'rejected', 'a YAML syntax error is rejected too');
  t.equal((await send(proxy.url(), '/again')).status, 200);
});

t.test('a Kubernetes ConfigMap update (the ..data symlink swap) is picked up', async (t) => {
  const a = await startUpstream();
  const b = await startUpstream();
  // The layout kubelet makes: file -> ..data/file, ..data -> ..<timestamp>/
  const dir = mkdtempSync(join(tmpdir(), 'outrider-configmap-'));
  const version = (n: number, target: 'a' | 'b'): void => {
    mkdirSync(join(dir, `..v${n}`));
    writeFileSync(join(dir, `..v${n}`, 'outrider.yaml'), policy(a, b, target));
    symlinkSync(`..v${n}`, join(dir, '..data_tmp'));
    renameSync(join(dir, '..data_tmp'), join(dir, '..data'));
  };
  version(1, 'a');
  symlinkSync('..data/outrider.yaml', join(dir, 'outrider.yaml'));

  const quiet = pino({ enabled: false });
  const sidecar = await Sidecar.start({ configFile: join(dir, 'outrider.yaml'), logger: quiet, accessLog: { write: () => undefined } });
  t.teardown(async () => {
    await sidecar.shutdown();
    await a.close();
    await b.close();
  });
  const url = `http://127.0.0.1:${sidecar.listenerPort('outbound')}`;
  await send(url, '/one');
  t.equal(a.requests.length, 1);

  version(2, 'b');
  await waitFor(async () => sidecar.policy.routes[0]?.upstream === 'b', 'the swapped ConfigMap');
  await send(url, '/two');
  t.equal(b.requests.length, 1, 'the new policy routes to b');
});
