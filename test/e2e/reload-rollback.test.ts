/**
 * Reloads that are valid policies but cannot be applied, through a real sidecar: a new listener
 * on a port another process holds, an existing listener moved there, a listener on an address
 * this host does not have, each alongside the removal of a listener. Each is reported rejected
 * (the result, the metric, the log line) and rolled back whole: the running policy keeps
 * serving on every listener it had, through the same upstream pools, and /status still shows it.
 * Then the same change applies once the port is free, and a removed listener finishes its
 * in-flight request while refusing new ones.
 */
import net from 'node:net';
import { request as httpRequest } from 'node:http';
import t, { type Test } from 'tap';
import { holding, until } from '../helpers/held.js';
import { send } from '../helpers/http.js';
import { startSidecar, type TestSidecar } from '../helpers/sidecar.js';
import { startUpstream, type TestUpstream } from '../helpers/upstream.js';

interface Shape {
  readonly target: 'a' | 'b';
  /** Extra listeners besides outbound (name → address). */
  readonly listeners?: Readonly<Record<string, string>>;
  readonly outbound?: string;
  readonly inbound?: boolean;
}

function policy(a: TestUpstream, b: TestUpstream, shape: Shape): string {
  const listeners = [`{ name: outbound, address: ${shape.outbound ?? '127.0.0.1:0'} }`];
  if (shape.inbound !== false) listeners.push('{ name: inbound, address: 127.0.0.1:0 }');
  for (const [name, address] of Object.entries(shape.listeners ?? {})) listeners.push(`{ name: ${name}, address: ${address} }`);
  return `version: 1
admin: { address: 127.0.0.1:0 }
drainTimeout: 5s
accessLog: off
listeners: [ ${listeners.join(', ')} ]
upstreams:
  a: { endpoints: [${a.url}] }
  b: { endpoints: [${b.url}] }
routes:
  - name: all
    match: { pathPrefix: / }
    upstream: ${shape.target}
`;
}

/** A port held by another server for as long as the test needs it. */
async function takenPort(t: Test): Promise<{ port: number; release(): Promise<void> }> {
  const blocker = net.createServer();
  await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
  let open = true;
  const release = async (): Promise<void> => {
    if (!open) return;
    open = false;
    await new Promise<void>((resolve) => blocker.close(() => resolve()));
  };
  t.teardown(release);
  return { port: (blocker.address() as net.AddressInfo).port, release };
}

interface Status {
  policy: { hash: string };
  listeners: { name: string; address: string; inFlight: number }[];
}

async function setUp(t: Test): Promise<{ proxy: TestSidecar; a: TestUpstream; b: TestUpstream; ports: { outbound: number; inbound: number } }> {
  const a = await startUpstream();
  const b = await startUpstream();
  const proxy = await startSidecar(policy(a, b, { target: 'a' }));
  t.teardown(async () => {
    await proxy.close();
    await a.close();
    await b.close();
  });
  return { proxy, a, b, ports: { outbound: proxy.sidecar.listenerPort('outbound'), inbound: proxy.sidecar.listenerPort('inbound') } };
}

/** The running policy answers on both listeners, through upstream a, and /status is unchanged. */
async function stillServing(t: Test, proxy: TestSidecar, a: TestUpstream, ports: { outbound: number; inbound: number }, before: Status, label: string): Promise<void> {
  const arrived = a.arrived;
  const out = await send(`http://127.0.0.1:${ports.outbound}`, `/${encodeURIComponent(label)}/out`);
  const inb = await send(`http://127.0.0.1:${ports.inbound}`, `/${encodeURIComponent(label)}/in`);
  t.same([out.status, inb.status], [200, 200], `${label}: both listeners still answer, on their old ports`);
  t.equal(a.arrived - arrived, 2, `${label}: through the running policy's upstream a`);
  const after = (await proxy.admin('/status')).json() as Status;
  t.equal(after.policy.hash, before.policy.hash, `${label}: /status shows the running policy`);
  t.same(
    after.listeners.map((l) => [l.name, l.address]),
    before.listeners.map((l) => [l.name, l.address]),
    `${label}: the same listeners, no half-applied one`,
  );
}

async function rejectedCount(proxy: TestSidecar): Promise<number> {
  const metrics = (await proxy.admin('/metrics')).body;
  return Number(/outrider_policy_reloads_total\{result="rejected"\} (\d+)/.exec(metrics)?.[1] ?? 0);
}

t.test('a new listener on a port another process holds: rejected, rolled back whole; applied once the port is free', async (t) => {
  const { proxy, a, b, ports } = await setUp(t);
  const taken = await takenPort(t);
  const before = (await proxy.admin('/status')).json() as Status;

  // Also removes inbound and moves the route to b: none of it may happen.
  proxy.rewrite(policy(a, b, { target: 'b', inbound: false, listeners: { third: `127.0.0.1:${taken.port}` } }));
  const outcome = await proxy.sidecar.reload();
  t.equal(outcome.result, 'rejected', 'the reload is reported rejected');
  t.match(outcome.result === 'rejected' ? outcome.issues.join('\n') : '', /EADDRINUSE/, 'with the bind error');
  t.equal(await rejectedCount(proxy), 1, 'and counted as rejected');
  t.ok(
    proxy.opsLog.lines.some((l) => l.msg === 'policy reload rejected; the running policy stays'),
    'and logged',
  );
  await stillServing(t, proxy, a, ports, before, 'port taken');
  t.equal(b.arrived, 0, 'the rejected route change never took effect');

  // The same policy once the port is free: applied, the new listener serves, inbound is gone.
  await taken.release();
  t.same(await proxy.sidecar.reload(), { result: 'applied' }, 'applied once the port is free');
  t.equal((await send(`http://127.0.0.1:${taken.port}`, '/third')).status, 200, 'the new listener answers');
  t.equal(b.arrived, 1, 'through the new route');
  await until(async () => {
    const refused = await send(`http://127.0.0.1:${ports.inbound}`, '/gone').then(
      () => false,
      (err: NodeJS.ErrnoException) => err.code === 'ECONNREFUSED',
    );
    return refused;
  }, 'the removed listener to stop accepting');
  t.pass('the removed listener no longer accepts');
});

t.test('an existing listener moved to a taken port, or onto an address this host does not have: rejected, rolled back', async (t) => {
  const { proxy, a, b, ports } = await setUp(t);
  const taken = await takenPort(t);
  const before = (await proxy.admin('/status')).json() as Status;

  proxy.rewrite(policy(a, b, { target: 'b', outbound: `127.0.0.1:${taken.port}` }));
  const moved = await proxy.sidecar.reload();
  t.equal(moved.result, 'rejected', 'moving outbound onto a taken port is rejected');
  t.match(moved.result === 'rejected' ? moved.issues.join('\n') : '', /EADDRINUSE/);
  await stillServing(t, proxy, a, ports, before, 'moved');

  // 192.0.2.1 (TEST-NET-1, RFC 5737) is a valid address no host here has: EADDRNOTAVAIL. The
  // other new listener, which could bind, must be closed again, not left listening.
  const spare = await takenPort(t);
  await spare.release();
  proxy.rewrite(policy(a, b, { target: 'b', inbound: false, listeners: { fine: `127.0.0.1:${spare.port}`, elsewhere: '192.0.2.1:0' } }));
  const elsewhere = await proxy.sidecar.reload();
  t.equal(elsewhere.result, 'rejected', 'a listener on an address this host lacks is rejected');
  t.match(elsewhere.result === 'rejected' ? elsewhere.issues.join('\n') : '', /EADDRNOTAVAIL/);
  await stillServing(t, proxy, a, ports, before, 'no such address');
  await t.rejects(send(`http://127.0.0.1:${spare.port}`, '/fine'), { code: 'ECONNREFUSED' }, 'the listener that did bind was closed again');
  t.equal(await rejectedCount(proxy), 2, 'both counted as rejected');
  t.equal(b.arrived, 0, 'no rejected route change took effect');
});

t.test('a request in flight across a rejected reload completes, and the running pools keep serving after it', async (t) => {
  const held = holding();
  const { proxy, a, b, ports } = await setUp(t);
  a.behave(held.behaviour);
  const taken = await takenPort(t);
  const before = (await proxy.admin('/status')).json() as Status;

  const url = new URL(`http://127.0.0.1:${ports.outbound}`);
  const inFlight = new Promise<number>((resolve, reject) => {
    httpRequest({ host: url.hostname, port: url.port, path: '/across', agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    })
      .on('error', reject)
      .end();
  });
  await until(() => held.count === 1, 'the request to be held at upstream a');

  // Changes upstream a's pool settings too: the failed build makes a new pool for it, which
  // must be thrown away, not the running one.
  proxy.rewrite(policy(a, b, { target: 'a', listeners: { third: `127.0.0.1:${taken.port}` } }).replace(`a: { endpoints: [${a.url}] }`, `a: { endpoints: [${a.url}], connections: 7 }`));
  const outcome = await proxy.sidecar.reload();
  t.equal(outcome.result, 'rejected');
  held.release(200);
  t.equal(await inFlight, 200, 'the request in flight during the rejected reload completes');
  a.behave((_req, res) => res.end('ok'));
  await stillServing(t, proxy, a, ports, before, 'after the rollback');
  t.equal(b.arrived, 0);
});

t.test('a removed listener (applied) stops accepting, and finishes the request it was answering', async (t) => {
  const held = holding();
  const { proxy, a, b, ports } = await setUp(t);
  a.behave(held.behaviour);
  const url = new URL(`http://127.0.0.1:${ports.inbound}`);
  const inFlight = new Promise<number>((resolve, reject) => {
    httpRequest({ host: url.hostname, port: url.port, path: '/finishing', agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    })
      .on('error', reject)
      .end();
  });
  await until(() => held.count === 1, 'a request on inbound to be held');

  proxy.rewrite(policy(a, b, { target: 'a', inbound: false }));
  t.same(await proxy.sidecar.reload(), { result: 'applied' });
  const status = (await proxy.admin('/status')).json() as Status;
  t.same(
    status.listeners.map((l) => l.name),
    ['outbound'],
    '/status lists only the remaining listener',
  );
  await t.rejects(send(`http://127.0.0.1:${ports.inbound}`, '/new'), { code: 'ECONNREFUSED' }, 'the removed listener refuses new connections');
  t.equal(held.count, 1, 'while its request is still in flight');
  held.release(200);
  t.equal(await inFlight, 200, 'which completes');
  a.behave((_req, res) => res.end('ok'));
  t.equal((await send(`http://127.0.0.1:${ports.outbound}`, '/outbound')).status, 200, 'the remaining listener serves');
});
