/**
 * A pod rehearsed with Linux network namespaces (root and `ip netns`; skipped with the reason
 * where that is not permitted). Three namespaces joined by veth pairs, nothing in the host's:
 *
 *   client 198.18.1.2 ──veth── 198.18.1.1 pod 198.18.2.1 ──veth── 198.18.2.2 service
 *   (other pods, and           Outrider: inbound 0.0.0.0:15006,     catalog v1 :8080
 *    the kubelet's probes)     outbound 127.0.0.1:15001, admin      catalog v2 :8081
 *                              0.0.0.0:9901; the app on 127.0.0.1:8080
 *
 * The pod is built from the chart as the real `helm template` renders it: the policy file of
 * its ConfigMap, laid out as kubelet mounts one (outrider.yaml → ..data/outrider.yaml, ..data →
 * a timestamped folder), the sidecar's args, the app's HTTP_PROXY/NO_PROXY and the probes'
 * paths and port. Started in the native-sidecar order: Outrider, its startup probe, then the
 * app. Then: client → inbound listener → app; app → HTTP_PROXY → outbound listener → service
 * namespace; a policy update by swapping the ..data symlink, as a ConfigMap update does; and a
 * SIGTERM that drains a request in flight through both listeners before exit 0. Outrider runs
 * as uid 65532, the image's user, where it can read the checkout. Addresses are in 198.18.0.0/15
 * (reserved for network tests) and exist only inside these namespaces.
 */
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { helmTemplate, type Manifest } from './fixtures/helm.js';
import { BIN, CHART_DIR, ROOT } from './fixtures/chart.js';
import { cannotRun as cannotRunHere, ip, Peer, unreadableAs } from '../helpers/netns.js';

/* eslint-disable @typescript-eslint/no-explicit-any -- manifests are free-form YAML */
type Any = any;

const PEER = fileURLToPath(new URL('./fixtures/pod-peer.ts', import.meta.url));
const TSX = import.meta.resolve('tsx');
const POD_IP = '198.18.1.1';
const CLIENT_IP = '198.18.1.2';
const SERVICE_IP = '198.18.2.2';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

const id = `o${process.pid}`;
const ns = { pod: `${id}-pod`, client: `${id}-cli`, service: `${id}-svc` };

/** Why this machine cannot run the rehearsal, or false when it can (the pod namespace is made). */
function cannotRun(): string | false {
  return cannotRunHere(ns.pod, /^o(\d+)-(?:pod|cli|svc)\b/);
}

t.test('a pod rehearsed in network namespaces: inbound, outbound via HTTP_PROXY, ConfigMap reload, SIGTERM drain', { skip: cannotRun() }, async (t) => {
  const peers: Peer[] = [];
  const dirs: string[] = [];
  t.teardown(async () => {
    for (const peer of peers) await peer.stop().catch(() => undefined);
    for (const name of Object.values(ns)) ip('netns', 'del', name);
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });

  // The wiring: client ↔ pod ↔ service; loopback up everywhere.
  const steps: string[][] = [
    ['netns', 'add', ns.client],
    ['netns', 'add', ns.service],
    ['link', 'add', `${id}c`, 'type', 'veth', 'peer', 'name', `${id}cp`],
    ['link', 'set', `${id}c`, 'netns', ns.client],
    ['link', 'set', `${id}cp`, 'netns', ns.pod],
    ['link', 'add', `${id}s`, 'type', 'veth', 'peer', 'name', `${id}sp`],
    ['link', 'set', `${id}s`, 'netns', ns.service],
    ['link', 'set', `${id}sp`, 'netns', ns.pod],
    ['-n', ns.client, 'addr', 'add', `${CLIENT_IP}/24`, 'dev', `${id}c`],
    ['-n', ns.pod, 'addr', 'add', `${POD_IP}/24`, 'dev', `${id}cp`],
    ['-n', ns.pod, 'addr', 'add', '198.18.2.1/24', 'dev', `${id}sp`],
    ['-n', ns.service, 'addr', 'add', `${SERVICE_IP}/24`, 'dev', `${id}s`],
    ...[ns.client, ns.pod, ns.service].map((n) => ['-n', n, 'link', 'set', 'lo', 'up']),
    ['-n', ns.client, 'link', 'set', `${id}c`, 'up'],
    ['-n', ns.pod, 'link', 'set', `${id}cp`, 'up'],
    ['-n', ns.pod, 'link', 'set', `${id}sp`, 'up'],
    ['-n', ns.service, 'link', 'set', `${id}s`, 'up'],
  ];
  for (const step of steps) {
    const r = ip(...step);
    if (!r.ok) return t.fail(`ip ${step.join(' ')}: ${r.out}`);
  }

  // The pod, from the chart: catalog v1 first, v2 after the ConfigMap update.
  const valuesFor = (port: number): string => `
sidecar: { drainTimeoutSeconds: 10 }
policy:
  upstreams:
    catalog: { endpoints: ["http://${SERVICE_IP}:${port}"] }
  routes:
    - { name: app, listener: inbound, match: { pathPrefix: / }, upstream: local-app }
    - name: catalog
      listener: outbound
      match: { host: catalog }
      upstream: catalog
      retry: { attempts: 2, "on": [connect-failure] }
`;
  const rendered = helmTemplate(CHART_DIR, { values: [valuesFor(8080)] });
  const policyText = (r: Manifest[]): string => (r.find((m) => m.doc.kind === 'ConfigMap')?.doc as Any).data['outrider.yaml'];
  const podSpec = (rendered.find((m) => m.doc.kind === 'Deployment')?.doc as Any).spec.template.spec;
  const sidecar = podSpec.initContainers[0];
  const appEnv = Object.fromEntries(podSpec.containers[0].env.map((e: Any) => [e.name, e.value])) as Record<string, string>;
  const inboundPort = sidecar.ports.find((p: Any) => p.name === 'inbound').containerPort as number;
  const startup = sidecar.startupProbe.httpGet;
  const readiness = sidecar.readinessProbe.httpGet;

  // The ConfigMap volume, as kubelet lays it out.
  const volume = mkdtempSync(join(tmpdir(), 'outrider-configmap-'));
  dirs.push(volume);
  chmodSync(volume, 0o755);
  let version = 0;
  const publish = (text: string): void => {
    version += 1;
    const folder = join(volume, `..2026_11_27_00_00_0${version}.${id}`);
    mkdirSync(folder, { mode: 0o755 });
    writeFileSync(join(folder, 'outrider.yaml'), text, { mode: 0o644 });
    symlinkSync(folder.split('/').at(-1) as string, join(volume, '..data_tmp'));
    renameSync(join(volume, '..data_tmp'), join(volume, '..data')); // the atomic swap
  };
  publish(policyText(rendered));
  symlinkSync('..data/outrider.yaml', join(volume, 'outrider.yaml'));

  const env = { PATH: process.env.PATH ?? '/usr/bin:/bin' };
  const node = (...args: string[]): string[] => [process.execPath, `--import=${TSX}`, PEER, ...args];

  const service = new Peer('service', ns.service, node('service', SERVICE_IP, '8080:catalog-v1', '8081:catalog-v2'), env);
  const client = new Peer('client', ns.client, node('client'), env);
  peers.push(service, client);
  await Promise.all([service.next((e) => e.event === 'listening', 'service listening'), client.next((e) => e.event === 'listening', 'client ready')]);

  // Outrider first (as the image runs it: uid 65532 when the checkout is readable to it).
  const args = (sidecar.args as string[]).map((a) => (a === '/etc/outrider/outrider.yaml' ? join(volume, 'outrider.yaml') : a));
  const asNonRoot = ['setpriv', '--reuid=65532', '--regid=65532', '--clear-groups'];
  const needed = [BIN, join(ROOT, 'dist/main.js'), join(ROOT, 'node_modules/yaml/package.json'), join(volume, 'outrider.yaml')];
  const unreadable = unreadableAs(65532, needed);
  const user = unreadable === false ? asNonRoot : [];
  if (unreadable !== false) t.comment(`Outrider runs as root: ${unreadable}`);
  const outrider = new Peer('outrider', ns.pod, [...user, process.execPath, BIN, ...args], { ...env, NODE_ENV: 'production' });
  peers.push(outrider);

  // The kubelet's startup probe (from outside the pod, like the node's): the app waits for it.
  const probeUrl = (p: Any): string => `http://${POD_IP}:${p.port}${p.path}`;
  let started = false;
  for (let i = 0; i < 200 && !started && outrider.child.exitCode === null; i++) {
    started = (await client.get(probeUrl(startup))).status === 200;
    if (!started) await sleep(50);
  }
  t.ok(started, `the startup probe ${startup.path} on admin port ${startup.port} passes from outside the pod${started ? '' : `; outrider: ${outrider.stderr}`}`);
  if (!started) return;
  if (user.length > 0 && outrider.child.pid !== undefined) {
    const status = readFileSync(`/proc/${outrider.child.pid}/status`, 'utf8');
    t.match(status, /^Name:\s+node\s[\s\S]*^Uid:\s+65532\s/m, 'Outrider (node, same pid: each wrapper execs the next) runs as uid 65532, as in the image');
  }

  const app = new Peer('app', ns.pod, node('app', '8080'), { ...env, ...appEnv });
  peers.push(app);
  await app.next((e) => e.event === 'listening', 'app listening');
  t.equal((await client.get(probeUrl(readiness))).status, 200, 'the readiness probe passes');

  // Inbound: another namespace reaches the app through Outrider's inbound listener only.
  const inbound = `http://${POD_IP}:${inboundPort}`;
  const hello = await client.get(`${inbound}/hello`);
  t.equal(hello.status, 200, 'client → pod IP:inbound → app');
  const seen = JSON.parse(hello.body).headers;
  t.equal(seen['x-forwarded-for'], CLIENT_IP, "the app sees the client's address in x-forwarded-for");
  t.ok(seen['x-request-id'], 'and a request id from Outrider');
  t.equal((await client.get(`http://${POD_IP}:8080/hello`)).error, 'ECONNREFUSED', "the app's own port is not reachable from outside the pod");

  // Outbound: the app's call goes through HTTP_PROXY to the outbound listener, then the service.
  const call = await client.get(`${inbound}/call/catalog/items/1`);
  t.equal(call.status, 200, `client → inbound → app → HTTP_PROXY → outbound → service: ${call.body}`);
  const called = JSON.parse(call.body);
  t.equal(called.via, 'proxy', `the app used HTTP_PROXY=${appEnv.HTTP_PROXY}`);
  const answer = JSON.parse(called.body);
  t.equal(answer.service, 'catalog-v1', 'the service namespace answered (catalog v1)');
  t.equal(answer.path, '/items/1', 'the absolute-form request reached the service as origin-form');
  t.equal(answer.from, '198.18.2.1', "from the pod's address on the service link");
  t.equal(answer.headers['x-outrider-attempt'], '1', 'through the route with a retry policy');

  // A ConfigMap update: kubelet swaps ..data; Outrider reloads the file in place.
  publish(policyText(helmTemplate(CHART_DIR, { values: [valuesFor(8081)] })));
  let now = '';
  for (let i = 0; i < 200 && now !== 'catalog-v2'; i++) {
    const r = await client.get(`${inbound}/call/catalog/items/2`);
    t.equal(r.status, 200, `no failed request while the policy changes (try ${i + 1})`);
    now = JSON.parse(JSON.parse(r.body).body).service;
    if (now !== 'catalog-v2') await sleep(50);
  }
  t.equal(now, 'catalog-v2', 'the swapped ConfigMap is applied without a restart');
  const metrics = await client.get(`http://${POD_IP}:${readiness.port}/metrics`);
  t.match(metrics.body, /outrider_policy_reloads_total\{result="applied"\} 1/, 'one reload applied');
  t.equal(outrider.child.exitCode, null, 'the same Outrider process');

  // SIGTERM with a request in flight through both listeners: it completes, then exit 0.
  const inFlight = client.get(`${inbound}/call/catalog/hold/3`);
  await service.next((e) => e.event === 'held', 'the in-flight request at the service');
  outrider.child.kill('SIGTERM');
  let ready = true;
  for (let i = 0; i < 200 && ready; i++) {
    const r = await client.get(probeUrl(readiness));
    ready = r.status === 200;
    if (ready) await sleep(25);
  }
  t.notOk(ready, 'readiness turns false on SIGTERM');
  t.equal((await client.get(`${inbound}/hello`)).error, 'ECONNREFUSED', 'new connections are refused while draining');
  t.equal(outrider.child.exitCode, null, 'Outrider is still draining the request in flight');
  service.send({ release: true });
  const drained = await inFlight;
  t.equal(drained.status, 200, `the in-flight request completed during the drain: ${drained.body ?? drained.error}`);
  t.equal(JSON.parse(JSON.parse(drained.body).body).path, '/hold/3', 'with the held answer');
  const code = await outrider.exited;
  t.equal(code, 0, `exit 0 after the drain${code === 0 ? '' : `; stderr: ${outrider.stderr.slice(-600)}`}`);
});
