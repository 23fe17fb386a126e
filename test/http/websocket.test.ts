/**
 * WebSockets through the sidecar (traffic.md, Routes: upgrades), with the `ws` library as both
 * client and server: messages echo in order, a 1 MiB binary frame passes whole, closes travel
 * both ways, the bulkhead slot is held while the tunnel lives, a refused upgrade gets the JSON
 * error, the tunnel metrics count, a reset leaves the process serving, and drain ends a tunnel
 * after drainTimeout.
 */
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import t from 'tap';
import WebSocket, { WebSocketServer } from 'ws';
import { guardProcess } from '../helpers/guard.js';
import { until } from '../helpers/held.js';
import { rawExchange, wellFormed } from '../helpers/raw.js';
import { startSidecar } from '../helpers/sidecar.js';

const guard = guardProcess();

/** A ws echo server on a node:http server, which also answers plain requests. */
async function echoServer(): Promise<{ url: string; server: Server; wss: WebSocketServer; closedByClient: number[] }> {
  const server = createServer((_req, res) => res.end('plain'));
  const wss = new WebSocketServer({ server });
  const closedByClient: number[] = [];
  wss.on('connection', (socket, req) => {
    if (req.url === '/close-from-server') setImmediate(() => socket.close(4001, 'server says bye'));
    if (req.url === '/reset-from-server') setImmediate(() => socket.terminate());
    socket.on('message', (data, isBinary) => socket.send(data, { binary: isBinary }));
    socket.on('close', (code) => closedByClient.push(code));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server, wss, closedByClient };
}

const up = await echoServer();
const proxy = await startSidecar(`version: 1
admin: { address: 127.0.0.1:0 }
drainTimeout: 300ms
listeners:
  - { name: outbound, address: 127.0.0.1:0 }
upstreams:
  app: { endpoints: [${up.url}] }
routes:
  - name: one-at-a-time
    match: { pathPrefix: /single }
    upstream: app
    bulkhead: { maxConcurrent: 1, maxQueued: 0 }
  - name: ws
    match: { pathPrefix: / }
    upstream: app
    retry: { attempts: 3, on: [5xx] }
    hedge: { delay: 1ms }
`);
const port = proxy.sidecar.listenerPort('outbound');
t.teardown(async () => {
  await proxy.close();
  up.wss.close();
  up.server.closeAllConnections();
  up.server.close();
});

function connect(path: string): Promise<WebSocket> {
  const socket = new WebSocket(`ws://127.0.0.1:${port}${path}`);
  return new Promise((resolve, reject) => {
    socket.once('open', () => resolve(socket));
    socket.once('error', reject);
  });
}

function nextMessage(socket: WebSocket): Promise<{ data: Buffer; isBinary: boolean }> {
  return new Promise((resolve) => socket.once('message', (data: Buffer, isBinary: boolean) => resolve({ data, isBinary })));
}

t.test('messages echo in order, and a 1 MiB binary frame passes whole', async (t) => {
  const socket = await connect('/chat');
  const received: string[] = [];
  const all = new Promise<void>((resolve) =>
    socket.on('message', (data: Buffer) => {
      received.push(data.toString());
      if (received.length === 100) resolve();
    }),
  );
  for (let i = 0; i < 100; i++) socket.send(`message ${i}`);
  await all;
  t.same(received, Array.from({ length: 100 }, (_, i) => `message ${i}`), '100 messages, in order');
  socket.removeAllListeners('message');
  const big = Buffer.alloc(1024 * 1024);
  for (let i = 0; i < big.length; i++) big[i] = i % 251;
  const echoed = nextMessage(socket);
  socket.send(big, { binary: true });
  const { data, isBinary } = await echoed;
  t.ok(isBinary, 'binary');
  t.ok(data.equals(big), '1 MiB, byte for byte');
  const metrics = (await proxy.admin('/metrics')).body;
  t.match(metrics, /outrider_tunnels_active\{listener="outbound",kind="upgrade"\} 1/, 'one tunnel open');
  socket.close(1000, 'done');
  const [code] = (await once(socket, 'close')) as [number];
  t.equal(code, 1000, 'the client’s close reached the server and its answer came back');
  await until(() => up.closedByClient.includes(1000), 'the server to see the close');
  await until(async () => /outrider_tunnels_active\{listener="outbound",kind="upgrade"\} 0/.test((await proxy.admin('/metrics')).body), 'the tunnel to be counted closed');
  const after = (await proxy.admin('/metrics')).body;
  const sent = Number(/outrider_tunnel_bytes_total\{listener="outbound",kind="upgrade",direction="upstream"\} (\d+)/.exec(after)?.[1]);
  t.ok(sent > 1024 * 1024, `bytes counted upstream: ${sent}`);
  const line = proxy.accessLog.lines.find((l) => l.path === '/chat');
  t.equal(line?.status, 101, 'the access log has the 101, written when the tunnel ended');
  t.equal(line?.attempts, 1, 'never retried or hedged');
});

t.test('a close from the server reaches the client', async (t) => {
  const socket = await connect('/close-from-server');
  const [code, reason] = (await once(socket, 'close')) as [number, Buffer];
  t.equal(code, 4001);
  t.equal(reason.toString(), 'server says bye');
});

t.test('a reset from the server reaches the client as an abnormal close', async (t) => {
  const socket = await connect('/reset-from-server');
  const [code] = (await once(socket, 'close')) as [number];
  t.equal(code, 1006, 'the connection went away without a close frame');
});

t.test('the bulkhead slot is held while the tunnel lives; a refused upgrade gets the JSON error', async (t) => {
  const first = await connect('/single');
  const refused = await rawExchange(
    port,
    'GET /single HTTP/1.1\r\nHost: app\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n',
  );
  t.equal(refused.responses[0]?.status, 503, 'a second tunnel on a one-slot bulkhead: 503');
  t.equal(refused.responses[0]?.headers['x-outrider-error'], 'bulkhead-full');
  t.equal(JSON.parse(refused.responses[0]?.body ?? '{}').error, 'bulkhead-full', 'the JSON error body');
  t.ok(refused.closedByServer, 'and the connection closed');
  first.close();
  await once(first, 'close');
  await until(async () => {
    const second = await connect('/single').catch(() => undefined);
    second?.close();
    return second !== undefined;
  }, 'the slot to be free once the tunnel closed');
  t.pass('once the first tunnel closed, another gets through');
});

t.test('a reset mid-tunnel: the upstream side is closed and the process serves on', async (t) => {
  const socket = await connect('/reset');
  await until(() => up.wss.clients.size >= 1, 'the server side to be open');
  const before = up.closedByClient.length;
  (socket as unknown as { _socket: import('node:net').Socket })._socket.resetAndDestroy();
  await until(() => up.closedByClient.length > before, 'the server side to close');
  const next = await rawExchange(port, wellFormed('/plain'), { expect: 1 });
  t.equal(next.responses[0]?.status, 200, 'a plain request is answered');
});

t.test('drain ends an open tunnel after drainTimeout', async (t) => {
  const socket = await connect('/long');
  const closed = once(socket, 'close');
  const drained = proxy.close();
  await closed;
  await drained;
  t.pass('the tunnel was closed by the drain, and the drain finished');
});

guard.check(t);
