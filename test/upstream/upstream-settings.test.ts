/**
 * Upstream connection settings (traffic.md, Upstreams): `maxResponseHeaderSize` (default
 * 64 KiB) lets a 20 KB response header through where undici's own 16 KiB default made it a 502
 * that could not be configured away, and still bounds it; `idleTimeout` keeps pooled
 * connections for less time than an app server that closes idle ones after 1 s without saying
 * so, so a steady trickle of POSTs never lands on a connection the server is closing.
 */
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import net from 'node:net';
import t from 'tap';
import { send } from '../helpers/http.js';
import { startSidecar } from '../helpers/sidecar.js';
import { startUpstream } from '../helpers/upstream.js';

function policy(upstream: string, extra = ''): string {
  return `version: 1
admin: { address: 127.0.0.1:0 }
listeners:
  - { name: outbound, address: 127.0.0.1:0 }
upstreams:
  app: { endpoints: [${upstream}]${extra} }
routes:
  - { name: all, match: { pathPrefix: / }, upstream: app }
`;
}

t.test('a 20 KB response header passes by default; a smaller maxResponseHeaderSize refuses it', async (t) => {
  const big = 'v'.repeat(20 * 1024);
  const up = await startUpstream((_req, res) => {
    res.writeHead(200, { 'x-big': big, 'content-type': 'text/plain' });
    res.end('ok');
  });
  const roomy = await startSidecar(policy(up.url));
  const tight = await startSidecar(policy(up.url, ', maxResponseHeaderSize: 8KiB'));
  t.teardown(async () => {
    await roomy.close();
    await tight.close();
    await up.close();
  });
  const passed = await sendWithRoomyHeaders(roomy.url(), '/big-header');
  t.equal(passed.status, 200, 'the default 64 KiB admits a 20 KB header');
  t.equal(passed.headers['x-big'], big, 'passed on whole');
  const refused = await sendWithRoomyHeaders(tight.url(), '/big-header');
  t.equal(refused.status, 502, 'over maxResponseHeaderSize: 502');
  t.equal(refused.headers['x-outrider-error'], 'upstream-reset');
});

/** node's client refuses more than 16 KiB of headers itself; this one takes 128 KiB. */
function sendWithRoomyHeaders(base: string, path: string): Promise<{ status: number; headers: IncomingHttpHeaders }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(`${base}${path}`, { maxHeaderSize: 128 * 1024, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers }));
    });
    req.on('error', reject);
    req.end();
  });
}

/**
 * An app server that closes each connection 1 s after its last answer and sends no Keep-Alive
 * hint (many servers behind a load balancer do): raw, so nothing advertises the timeout.
 */
async function closesIdleAfter(ms: number): Promise<{ url: string; closedIdle: number; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const state = { url: '', closedIdle: 0, close: async () => {} };
  const server = net.createServer((socket) => {
    sockets.add(socket);
    let idle: NodeJS.Timeout | undefined;
    socket.on('close', () => {
      clearTimeout(idle);
      sockets.delete(socket);
    });
    socket.on('end', () => {
      clearTimeout(idle);
      socket.end();
    });
    socket.on('error', () => undefined);
    let buffered = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      clearTimeout(idle);
      buffered = Buffer.concat([buffered, chunk]);
      for (;;) {
        const end = buffered.indexOf('\r\n\r\n');
        if (end === -1) return;
        const head = buffered.subarray(0, end).toString('latin1');
        const length = Number(/content-length: *(\d+)/i.exec(head)?.[1] ?? 0);
        if (buffered.length < end + 4 + length) return;
        buffered = buffered.subarray(end + 4 + length);
        socket.write(`HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok`);
        idle = setTimeout(() => {
          state.closedIdle += 1;
          socket.destroy();
        }, ms);
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  state.url = `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`;
  state.close = async () => {
    for (const s of sockets) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  return state;
}

t.test('idleTimeout below the server’s: a trickle of POSTs around its 1 s idle close never fails', async (t) => {
  const up = await closesIdleAfter(1000);
  const proxy = await startSidecar(policy(up.url, ', idleTimeout: 500ms'));
  t.teardown(async () => {
    await proxy.close();
    await up.close();
  });
  const statuses: number[] = [];
  // Gaps around the server's 1 s: the moments a reused connection would be closing under us.
  const gaps = [0, 980, 1000, 1020, 990, 1010, 1000, 995, 1005, 1000, 1015, 985];
  for (const gap of gaps) {
    // Pacing, not synchronisation: the gaps are the scenario (requests around the server's idle close).
    await new Promise((resolve) => setTimeout(resolve, gap));
    statuses.push((await send(proxy.url(), '/post', { method: 'POST', body: 'payload' })).status);
  }
  t.same(statuses, Array(gaps.length).fill(200), 'every POST answered 200');
  t.equal(up.closedIdle, 0, 'the server never had to close an idle connection: the sidecar closed each first');
});
