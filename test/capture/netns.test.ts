/**
 * A captured pod rehearsed in network namespaces (root and `ip netns`, as CI runs; skipped
 * with the reason where namespaces are not permitted). Two namespaces joined by a veth pair:
 *
 *   pod 198.18.4.1 ───veth─── service namespace
 *   Outrider as uid 65532:      198.18.4.2:8080   flaky: every other request 503
 *     outbound 127.0.0.1:15001  198.18.4.3:8080   no route names it (passthrough)
 *       (unrouted: passthrough) 198.18.4.3:5432   an excluded port
 *     inbound 0.0.0.0:15006     198.18.4.4:8080   an excluded network
 *   the app as uid 1000,        169.254.169.254:80 the cloud metadata address
 *     0.0.0.0:8080 and :8081
 *
 * `outrider capture` (the real binary) sets the pod's rules; the app makes plain http.get
 * calls with no proxy variables. Before capture it sees the service's 503s; after, every call
 * succeeds through the route's retry, an unrouted host passes through, the exclusions and
 * loopback stay direct, and the service namespace reaches the app's port through the inbound
 * listener. Waits are on process output (ready lines, access-log lines, answers), each bounded.
 */
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { cannotRun, ip, Peer, unreadableAs, wire, type Event } from '../helpers/netns.js';

const BIN = fileURLToPath(new URL('../../bin/outrider', import.meta.url));
const PEER = fileURLToPath(new URL('./fixtures/capture-peer.ts', import.meta.url));
const TSX = import.meta.resolve('tsx');
const POD = '198.18.4.1';
const SERVICE = '198.18.4.2';
const OTHER = '198.18.4.3';
const EXCLUDED = '198.18.4.4';
const METADATA = '169.254.169.254';
const PATH = process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin';
const id = `c${process.pid}`;
const ns = { pod: `${id}-pod`, service: `${id}-svc` };
const CAPTURE = ['capture', '--proxy-uid', '65532', '--outbound-listener', '15001', '--inbound-listener', '15006', '--exclude-inbound-ports', '8081', '--exclude-outbound-ports', '5432', '--exclude-outbound-cidrs', `${EXCLUDED}/32`];

const POLICY = `version: 1
admin: { address: 127.0.0.1:9901 }
drainTimeout: 1s
listeners:
  - { name: outbound, address: 127.0.0.1:15001, unrouted: passthrough }
  - { name: inbound, address: 0.0.0.0:15006 }
upstreams:
  service: { endpoints: [http://${SERVICE}:8080] }
  app: { endpoints: [http://127.0.0.1:8080] }
routes:
  - { name: inbound, listener: inbound, match: { pathPrefix: / }, upstream: app }
  - name: service
    listener: outbound
    match: { host: "${SERVICE}" }
    upstream: service
    retry: { attempts: 3, "on": [5xx, connect-failure] }
`;

type Result = { status?: number; headers?: Record<string, string>; body?: string; error?: string };
const results = (answer: Event): Result[] => answer.results as Result[];
const seenBy = (r: Result | undefined): Record<string, string> => (r?.body === undefined ? {} : (JSON.parse(r.body) as { headers: Record<string, string> }).headers);

t.test('a captured pod: plain calls get the route, unrouted ones pass through, inbound arrives through the sidecar', { skip: cannotRun(ns.pod, /^c(\d+)-(?:pod|svc)\b/) }, async (t) => {
  const peers: Peer[] = [];
  const dir = mkdtempSync(join(tmpdir(), 'outrider-capture-'));
  t.teardown(async () => {
    for (const peer of peers) await peer.stop().catch(() => undefined);
    for (const name of Object.values(ns)) ip('netns', 'del', name);
    rmSync(dir, { recursive: true, force: true });
  });
  // The sidecar and the apps run as uids 65532 and 1000: the point of capture's owner match.
  for (const uid of [65532, 1000]) {
    const unreadable = unreadableAs(uid, [BIN, fileURLToPath(new URL('../../dist/main.js', import.meta.url)), PEER, fileURLToPath(TSX)]);
    if (unreadable !== false) throw new Error(unreadable);
  }
  const failed = wire([
    ['netns', 'add', ns.service],
    ['link', 'add', `${id}p`, 'type', 'veth', 'peer', 'name', `${id}s`],
    ['link', 'set', `${id}p`, 'netns', ns.pod],
    ['link', 'set', `${id}s`, 'netns', ns.service],
    ['-n', ns.pod, 'addr', 'add', `${POD}/24`, 'dev', `${id}p`],
    ...[SERVICE, OTHER, EXCLUDED].map((a) => ['-n', ns.service, 'addr', 'add', `${a}/24`, 'dev', `${id}s`]),
    ['-n', ns.service, 'addr', 'add', `${METADATA}/32`, 'dev', `${id}s`],
    ...[ns.pod, ns.service].flatMap((n) => [['-n', n, 'link', 'set', 'lo', 'up']]),
    ['-n', ns.pod, 'link', 'set', `${id}p`, 'up'],
    ['-n', ns.service, 'link', 'set', `${id}s`, 'up'],
    ['-n', ns.pod, 'route', 'add', `${METADATA}/32`, 'dev', `${id}p`],
  ]);
  if (failed !== undefined) return t.fail(failed);

  chmodSync(dir, 0o755);
  const policy = join(dir, 'outrider.yaml');
  writeFileSync(policy, POLICY, { mode: 0o644 });
  const env = { PATH };
  const asUser = (uid: number): string[] => ['setpriv', `--reuid=${uid}`, `--regid=${uid}`, '--clear-groups'];
  const peer = (...specs: string[]): string[] => [process.execPath, `--import=${TSX}`, PEER, 'serve', ...specs];

  const service = new Peer('service', ns.service, peer(`${SERVICE}:8080:service:flaky`, `${OTHER}:8080:other`, `${OTHER}:5432:db`, `${EXCLUDED}:8080:excluded`, `${METADATA}:80:metadata`), env);
  peers.push(service);
  await service.next((e) => e.event === 'listening', 'service listening');

  // Before capture: an app talks to the flaky service directly and sees its 503s. A process of
  // its own, gone before capture: a connection opened before the rules is not redirected but
  // reset (conntrack picks it up mid-stream as new), which is why capture is an init container.
  const early = new Peer('app-before-capture', ns.pod, [...asUser(1000), ...peer()], env);
  peers.push(early);
  await early.next((e) => e.event === 'listening', 'the early app');
  const direct = results(await early.ask({ url: `http://${SERVICE}:8080/direct/{i}`, count: 4 }, 'direct calls'));
  t.same(direct.map((r) => r.status), [503, 200, 503, 200], 'without capture the app sees every other call fail');
  t.equal(seenBy(direct[1])['x-outrider-hops'], undefined, 'and nothing passed a sidecar');
  await early.stop();

  // As a pod starts: the init container's capture, then Outrider, then the app.
  const applied = spawnSync('ip', ['netns', 'exec', ns.pod, 'env', '-i', `PATH=${PATH}`, process.execPath, BIN, ...CAPTURE], { encoding: 'utf8', timeout: 60_000 });
  t.equal(applied.status, 0, `outrider capture applied in the pod namespace: ${applied.stderr}`);
  const outrider = new Peer('outrider', ns.pod, [...asUser(65532), process.execPath, BIN, '--config', policy], { ...env, NODE_ENV: 'production' });
  peers.push(outrider);
  await outrider.next((e) => e.msg === 'outrider ready', 'the ready line');
  const app = new Peer('app', ns.pod, [...asUser(1000), ...peer('0.0.0.0:8080:app', '0.0.0.0:8081:app-metrics')], env);
  peers.push(app);
  await app.next((e) => e.event === 'listening', 'app listening');
  const uidOf = (p: Peer): string | undefined => /^Uid:\s+(\d+)/m.exec(spawnSync('cat', [`/proc/${p.child.pid}/status`], { encoding: 'utf8' }).stdout)?.[1];
  t.equal(uidOf(outrider), '65532', 'Outrider runs as uid 65532 (setpriv execs node: same pid)');
  t.equal(uidOf(app), '1000', 'the app as uid 1000');

  // Outbound to a route: its retry turns every 503 into a success.
  const calls = results(await app.ask({ url: `http://${SERVICE}:8080/items/{i}`, count: 20 }, 'captured calls'));
  t.same(calls.map((r) => r.status ?? r.error), Array(20).fill(200), 'all 20 plain http.get calls succeed: the route retried the 503s');
  const arrived = service.events.filter((e) => e.event === 'request' && String(e.path).startsWith('/items/'));
  t.equal(arrived.filter((e) => e.status === 503).length, 20, 'the service failed 20 of them');
  t.ok(arrived.some((e) => e.headers['x-outrider-attempt'] === '2'), 'and saw the retries (x-outrider-attempt: 2)');
  t.ok(arrived.every((e) => e.headers['x-outrider-hops'] === '1'), 'every request passed the sidecar once');
  const routed = await outrider.next((e) => e.route === 'service' && e.path === '/items/19', 'the access-log line of the last call');
  t.match(routed, { listener: 'outbound', upstream: 'service', status: 200, attempts: 2 });

  // Outbound to a host no route names: passed through to it.
  const free = results(await app.ask({ url: `http://${OTHER}:8080/free` }, 'an unrouted call'))[0];
  t.equal(free?.status, 200, 'an unrouted host answers');
  t.equal(JSON.parse(free?.body ?? '{}').service, 'other', 'the one the app called');
  t.equal(seenBy(free)['x-outrider-hops'], '1', 'through the sidecar');
  const passed = await outrider.next((e) => e.path === '/free', 'the passthrough access-log line');
  t.match(passed, { route: 'passthrough', upstream: `${OTHER}:8080`, status: 200 });

  // What is not captured: excluded port, excluded network, metadata, loopback, the pod's own address.
  for (const [url, what] of [
    [`http://${OTHER}:5432/db`, 'an excluded port'],
    [`http://${EXCLUDED}:8080/x`, 'an excluded network'],
    [`http://${METADATA}/latest/meta-data`, 'the metadata address (excluded by default)'],
    ['http://127.0.0.1:8081/self', 'the app calling itself on loopback'],
    [`http://${POD}:8081/self`, 'the app calling its own pod address'],
  ] as const) {
    const r = results(await app.ask({ url }, what))[0];
    t.equal(r?.status, 200, `${what}: answered`);
    t.equal(seenBy(r)['x-outrider-hops'], undefined, `${what}: directly, not through the sidecar`);
  }

  // Inbound: the service namespace calls the app's port; the inbound listener takes it.
  const inbound = results(await service.ask({ url: `http://${POD}:8080/hello` }, 'an inbound call'))[0];
  t.equal(inbound?.status, 200, `service namespace → pod:8080 answered: ${inbound?.error ?? ''}`);
  t.equal(JSON.parse(inbound?.body ?? '{}').service, 'app');
  t.equal(seenBy(inbound)['x-outrider-hops'], '1', 'the app sees x-outrider-hops: it came through Outrider');
  t.equal(seenBy(inbound)['x-forwarded-for'], SERVICE, "with the caller's address");
  t.match(await outrider.next((e) => e.path === '/hello', 'the inbound access-log line'), { listener: 'inbound', route: 'inbound', status: 200 });
  const excludedIn = results(await service.ask({ url: `http://${POD}:8081/metrics` }, 'an excluded inbound port'))[0];
  t.equal(excludedIn?.status, 200);
  t.equal(seenBy(excludedIn)['x-outrider-hops'], undefined, 'an excluded inbound port reaches the app directly');
});
