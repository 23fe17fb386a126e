/**
 * The tunnel and the CONNECT handler on their own, with real sockets: bytes both ways with
 * backpressure (a reader that pauses holds the writer), a half-close passed on, a reset passed
 * on as a reset, a target that cannot be reached answered 502, and targets and allow lists read
 * as the contract says.
 */
import { once } from 'node:events';
import net from 'node:net';
import t from 'tap';
import { connectAllowed, connectTarget } from '../../src/http/connect.js';
import { Tunnel, type TunnelBytes } from '../../src/http/tunnel.js';
import { until } from '../helpers/held.js';
import { rawExchange } from '../helpers/raw.js';
import { simplePolicy, startSidecar } from '../helpers/sidecar.js';
import { closedPort, startUpstream } from '../helpers/upstream.js';

/** Two connected socket pairs: [client side, proxy side] and [proxy side, upstream side]. */
async function pairs(): Promise<{ client: net.Socket; proxyClient: net.Socket; proxyUpstream: net.Socket; upstream: net.Socket; close(): void }> {
  // Half-open sockets, as node:http hands over after CONNECT or an upgrade.
  const server = net.createServer({ allowHalfOpen: true });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as net.AddressInfo).port;
  const accepted: net.Socket[] = [];
  server.on('connection', (s) => accepted.push(s));
  const client = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
  const proxyUpstream = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
  for (const s of [client, proxyUpstream]) s.on('error', () => undefined);
  await until(() => accepted.length === 2, 'both connections accepted');
  const [proxyClient, upstream] = accepted as [net.Socket, net.Socket];
  for (const s of [proxyClient, upstream]) s.on('error', () => undefined);
  return { client, proxyClient, proxyUpstream, upstream, close: () => server.close() };
}

t.test('bytes both ways with backpressure, then a half-close, then the count', async (t) => {
  const p = await pairs();
  t.teardown(p.close);
  let counted: TunnelBytes | undefined;
  new Tunnel(p.proxyClient, p.proxyUpstream).open(Buffer.from('head:'), (bytes) => (counted = bytes));
  const big = Buffer.alloc(8 * 1024 * 1024, 7);
  // The upstream does not read for a while: the client's writes must back up, not pile up in the tunnel.
  p.upstream.pause();
  p.client.write(big);
  await until(() => p.proxyClient.isPaused(), 'the tunnel to pause the client side (backpressure)');
  let received = 0;
  p.upstream.on('data', (c: Buffer) => (received += c.length));
  p.upstream.resume();
  await until(() => received === big.length + 5, 'everything to arrive, head first');
  p.upstream.write('answer');
  const [answer] = (await once(p.client, 'data')) as [Buffer];
  t.equal(answer.toString(), 'answer', 'and bytes flow back');
  let upstreamEnded = false;
  p.upstream.once('end', () => (upstreamEnded = true));
  p.client.end();
  await until(() => upstreamEnded, 'the upstream to see the end', 3000).catch(() => undefined);
  t.ok(upstreamEnded, 'the client’s half-close reached the upstream');
  const late = once(p.client, 'data');
  p.upstream.write('late');
  t.equal(((await late) as [Buffer])[0].toString(), 'late', 'and the upstream can still answer: a half-close, not a close');
  p.upstream.end();
  await until(() => counted !== undefined, 'the tunnel to close');
  t.same(counted, { sent: big.length + 5, received: 10 }, 'bytes counted each way');
});

t.test('a reset on one side resets the other', async (t) => {
  const p = await pairs();
  t.teardown(p.close);
  new Tunnel(p.proxyClient, p.proxyUpstream).open(Buffer.alloc(0), () => undefined);
  const upstreamError = new Promise<string>((resolve) => p.upstream.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? '')));
  p.client.resetAndDestroy();
  t.equal(await upstreamError, 'ECONNRESET', 'the upstream side was reset too, not closed politely');
});

t.test('CONNECT targets and allow lists', async (t) => {
  t.same(connectTarget('example.com:443'), { host: 'example.com', port: 443 });
  t.same(connectTarget('[::1]:8443'), { host: '[::1]', port: 8443 });
  t.equal(connectTarget('example.com'), undefined, 'no port');
  t.equal(connectTarget('example.com:0'), undefined, 'port 0');
  t.equal(connectTarget('example.com:70000'), undefined, 'port out of range');
  t.equal(connectTarget(undefined), undefined);
  t.ok(connectAllowed(['*:443'], 'a.test', 443));
  t.notOk(connectAllowed(['*:443'], 'a.test', 80));
  t.ok(connectAllowed(['a.test:*'], 'a.test', 8080));
  t.notOk(connectAllowed(['a.test:*'], 'b.test', 8080));
  t.notOk(connectAllowed([], 'a.test', 443), 'none allowed by default');
});

t.test('an allowed target that refuses: 502 upstream-unreachable; a malformed target: 403', async (t) => {
  const up = await startUpstream();
  const dead = await closedPort();
  const proxy = await startSidecar(simplePolicy(up.url).replace('{ name: outbound, address: 127.0.0.1:0 }', '{ name: outbound, address: 127.0.0.1:0, connect: { allow: ["*:*"] } }'));
  t.teardown(async () => {
    await proxy.close();
    await up.close();
  });
  const port = proxy.sidecar.listenerPort('outbound');
  const refused = await rawExchange(port, `CONNECT 127.0.0.1:${dead} HTTP/1.1\r\nHost: x\r\n\r\n`);
  t.equal(refused.responses[0]?.status, 502);
  t.equal(refused.responses[0]?.headers['x-outrider-error'], 'upstream-unreachable');
  const malformed = await rawExchange(port, `CONNECT nohost HTTP/1.1\r\nHost: x\r\n\r\n`);
  t.equal(malformed.responses[0]?.headers['x-outrider-error'], 'connect-refused');
});
