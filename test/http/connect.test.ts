/**
 * CONNECT tunnels (traffic.md, Listeners `connect`), with clients no one here wrote: curl -x to
 * a local TLS server through an allowed CONNECT (and refused with 403 otherwise), and undici's
 * EnvHttpProxyAgent with fetch (what Node's fetch does with proxy variables; it tunnels even
 * http:// through CONNECT). A reset inside a tunnel leaves the process serving.
 */
import { execFile } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { createServer as createHttps } from 'node:https';
import type { AddressInfo } from 'node:net';
import net from 'node:net';
import { promisify } from 'node:util';
import t from 'tap';
import { EnvHttpProxyAgent, fetch } from 'undici';
import { guardProcess } from '../helpers/guard.js';
import { until } from '../helpers/held.js';
import { rawExchange } from '../helpers/raw.js';
import { startSidecar } from '../helpers/sidecar.js';
import { startUpstream } from '../helpers/upstream.js';

const guard = guardProcess();
const run = promisify(execFile);
const tls = (name: string): string => new URL(`../fixtures/tls/${name}`, import.meta.url).pathname;

const secure = createHttps({ cert: readFileSync(tls('server.crt')), key: readFileSync(tls('server.key')) }, (req, res) => res.end(`tls ${req.url}`));
secure.listen(0, '127.0.0.1');
await once(secure, 'listening');
const securePort = (secure.address() as AddressInfo).port;
const plain = await startUpstream();
const plainPort = Number(new URL(plain.url).port);

const proxy = await startSidecar(`version: 1
admin: { address: 127.0.0.1:0 }
listeners:
  - name: outbound
    address: 127.0.0.1:0
    connect: { allow: ["localhost:${securePort}", "127.0.0.1:${plainPort}"] }
  - { name: closed, address: 127.0.0.1:0 }
upstreams:
  app: { endpoints: [${plain.url}] }
routes:
  - { name: all, match: { pathPrefix: / }, upstream: app }
`);
const proxyUrl = proxy.url('outbound');
t.teardown(async () => {
  await proxy.close();
  await plain.close();
  secure.closeAllConnections();
  secure.close();
});

t.test('curl -x through an allowed CONNECT to a TLS server', async (t) => {
  const { stdout } = await run('curl', ['-sS', '--max-time', '10', '--cacert', tls('ca.crt'), '-x', proxyUrl, `https://localhost:${securePort}/hello`]);
  t.equal(stdout, 'tls /hello', 'the TLS server answered through the tunnel, its certificate verified end to end');
  const counted = /outrider_tunnel_bytes_total\{listener="outbound",kind="connect",direction="downstream"\} [1-9]/;
  await until(async () => counted.test((await proxy.admin('/metrics')).body), 'the closed tunnel’s bytes to be counted');
  t.pass('the tunnel’s bytes are counted when it closes');
});

t.test('a CONNECT the allow list does not name, or on a listener without one: 403 connect-refused', async (t) => {
  for (const [proxyAt, target] of [
    [proxyUrl, `https://localhost:${securePort + 1}/x`],
    [proxy.url('closed'), `https://localhost:${securePort}/x`],
  ] as const) {
    const failed = await run('curl', ['-sS', '--max-time', '10', '--cacert', tls('ca.crt'), '-x', proxyAt, target]).then(
      () => undefined,
      (err: { code: number; stderr: string }) => err,
    );
    t.equal(failed?.code, 56, `${target} via ${proxyAt}: curl reports the failed tunnel`);
    t.match(failed?.stderr ?? '', /403/, 'with the 403');
  }
  const raw = await rawExchange(proxy.sidecar.listenerPort('outbound'), `CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n`);
  t.equal(raw.responses[0]?.headers['x-outrider-error'], 'connect-refused');
});

t.test('undici EnvHttpProxyAgent with fetch: http:// and https:// through CONNECT', async (t) => {
  const dispatcher = new EnvHttpProxyAgent({ httpProxy: proxyUrl, httpsProxy: proxyUrl, noProxy: '', requestTls: { ca: readFileSync(tls('ca.crt')) } });
  t.teardown(() => dispatcher.close());
  const viaHttp = await fetch(`http://127.0.0.1:${plainPort}/fetched`, { dispatcher });
  t.equal(viaHttp.status, 200, 'http:// (tunnelled by the agent)');
  t.equal(((await viaHttp.json()) as { url: string }).url, '/fetched');
  const viaHttps = await fetch(`https://localhost:${securePort}/fetched`, { dispatcher });
  t.equal(await viaHttps.text(), 'tls /fetched', 'https://');
});

t.test('a reset inside a tunnel leaves the process serving', async (t) => {
  const socket = net.connect(proxy.sidecar.listenerPort('outbound'), '127.0.0.1');
  socket.on('error', () => undefined);
  await once(socket, 'connect');
  socket.write(`CONNECT 127.0.0.1:${plainPort} HTTP/1.1\r\nHost: 127.0.0.1:${plainPort}\r\n\r\n`);
  const [answer] = (await once(socket, 'data')) as [Buffer];
  t.match(answer.toString(), /^HTTP\/1\.1 200 /, 'the tunnel is open');
  socket.resetAndDestroy();
  await until(async () => /outrider_tunnels_active\{listener="outbound",kind="connect"\} 0/.test((await proxy.admin('/metrics')).body), 'the tunnel to close');
  const { stdout } = await run('curl', ['-sS', '--max-time', '10', '--cacert', tls('ca.crt'), '-x', proxyUrl, `https://localhost:${securePort}/after`]);
  t.equal(stdout, 'tls /after', 'a new tunnel works');
});

t.test('a reload changes a listener’s allow list in place; switching TLS on at the same address is refused', async (t) => {
  const closedPort = proxy.sidecar.listenerPort('closed');
  const ask = async (): Promise<string> => {
    const socket = net.connect(closedPort, '127.0.0.1');
    socket.on('error', () => undefined);
    await once(socket, 'connect');
    socket.write(`CONNECT 127.0.0.1:${plainPort} HTTP/1.1\r\nHost: 127.0.0.1:${plainPort}\r\n\r\n`);
    const [answer] = (await once(socket, 'data')) as [Buffer];
    socket.destroy();
    return answer.toString().split('\r\n')[0] ?? '';
  };
  t.match(await ask(), / 403 /, 'refused before');
  const policy = readFileSync(proxy.file, 'utf8');
  // The same configured address (port 0 stays port 0): the listener stays, reconfigured.
  proxy.rewrite(policy.replace('{ name: closed, address: 127.0.0.1:0 }', `{ name: closed, address: 127.0.0.1:0, connect: { allow: ["127.0.0.1:*"] } }`));
  t.same(await proxy.sidecar.reload(), { result: 'applied' });
  t.match(await ask(), / 200 /, 'allowed after the reload, on the same listener');
  proxy.rewrite(policy.replace('{ name: closed, address: 127.0.0.1:0 }', `{ name: closed, address: 127.0.0.1:0, connect: { allow: ["127.0.0.1:*"] }, tls: { cert: ${tls('server.crt')}, key: ${tls('server.key')} } }`));
  const refused = await proxy.sidecar.reload();
  t.equal(refused.result, 'rejected', 'TLS switched on at the same address: the reload is refused');
  t.match(JSON.stringify(refused), /switching TLS or client certificates on or off needs a new address or a restart/);
  t.match(await ask(), / 200 /, 'and the running policy stays');
});

guard.check(t);
