/**
 * TLS both ways (traffic.md): origination to https:// upstreams with their own CA (good CA,
 * wrong CA, wrong name: the last two are upstream-unreachable saying why; a client
 * certificate for an upstream that requires one), and termination on a listener tested with
 * curl --cacert: with clientCa a client certificate is required, its SPIFFE URI (else CN) is
 * matched by `match.clientIdentity`, logged and passed on in x-forwarded-client-cert; a
 * certificate rotated on disk is used for new connections while open ones go on; a broken one
 * is refused and the old one stays; /status shows the certificate's expiry.
 */
import { execFile } from 'node:child_process';
import { once } from 'node:events';
import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer as createHttps, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { promisify } from 'node:util';
import t from 'tap';
import { guardProcess } from '../helpers/guard.js';
import { until } from '../helpers/held.js';
import { send } from '../helpers/http.js';
import { startSidecar } from '../helpers/sidecar.js';
import { startUpstream } from '../helpers/upstream.js';

const guard = guardProcess();
const run = promisify(execFile);
const fixture = (name: string): string => new URL(`../fixtures/tls/${name}`, import.meta.url).pathname;
const read = (name: string): Buffer => readFileSync(fixture(name));

async function httpsUpstream(options: { requestCert?: boolean } = {}): Promise<{ url: string; server: Server }> {
  const server = createHttps(
    { cert: read('server.crt'), key: read('server.key'), ca: read('ca.crt'), requestCert: options.requestCert === true, rejectUnauthorized: options.requestCert === true },
    (req, res) => res.end(JSON.stringify({ url: req.url, xfcc: req.headers['x-forwarded-client-cert'] ?? null })),
  );
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { url: `https://localhost:${(server.address() as AddressInfo).port}`, server };
}

t.test('origination: verified against tls.ca; a wrong CA or name is upstream-unreachable saying why', async (t) => {
  const up = await httpsUpstream();
  const mutual = await httpsUpstream({ requestCert: true });
  const proxy = await startSidecar(`version: 1
admin: { address: 127.0.0.1:0 }
listeners:
  - { name: outbound, address: 127.0.0.1:0 }
upstreams:
  good: { endpoints: [${up.url}], tls: { ca: ${fixture('ca.crt')} } }
  wrong-ca: { endpoints: [${up.url}], tls: { ca: ${fixture('other-ca.crt')} } }
  wrong-name: { endpoints: [${up.url}], tls: { ca: ${fixture('ca.crt')}, serverName: elsewhere.test } }
  system-roots: { endpoints: [${up.url}] }
  with-cert: { endpoints: [${mutual.url}], tls: { ca: ${fixture('ca.crt')}, cert: ${fixture('client-spiffe.crt')}, key: ${fixture('client-spiffe.key')} } }
  without-cert: { endpoints: [${mutual.url}], tls: { ca: ${fixture('ca.crt')} } }
routes:
${['good', 'wrong-ca', 'wrong-name', 'system-roots', 'with-cert', 'without-cert'].map((n) => `  - { name: ${n}, match: { pathPrefix: /${n}/ }, upstream: ${n} }`).join('\n')}
`);
  t.teardown(async () => {
    await proxy.close();
    for (const s of [up.server, mutual.server]) {
      s.closeAllConnections();
      s.close();
    }
  });
  const good = await send(proxy.url(), '/good/x');
  t.equal(good.status, 200, 'a certificate from tls.ca: 200');
  t.equal(good.json<{ url: string }>().url, '/good/x');
  for (const [name, why] of [
    ['wrong-ca', /certificate was not accepted \((SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT_LOCALLY)\)/],
    ['wrong-name', /certificate was not accepted \(ERR_TLS_CERT_ALTNAME_INVALID\)/],
    ['system-roots', /certificate was not accepted/],
  ] as const) {
    const refused = await send(proxy.url(), `/${name}/x`);
    t.equal(refused.status, 502, `${name}: 502`);
    t.equal(refused.headers['x-outrider-error'], 'upstream-unreachable', `${name}: upstream-unreachable`);
    t.match(refused.json<{ message: string }>().message, why, `${name}: the message says why`);
  }
  t.equal((await send(proxy.url(), '/with-cert/x')).status, 200, 'a client certificate for an upstream that requires one');
  t.equal((await send(proxy.url(), '/without-cert/x')).status, 502, 'and without it the upstream refuses the handshake');
});

t.test('termination: curl --cacert; with clientCa a certificate is required, its identity routed, logged and passed on', async (t) => {
  const up = await startUpstream();
  const proxy = await startSidecar(`version: 1
admin: { address: 127.0.0.1:0 }
listeners:
  - name: open
    address: 127.0.0.1:0
    tls: { cert: ${fixture('server.crt')}, key: ${fixture('server.key')} }
  - name: mutual
    address: 127.0.0.1:0
    tls: { cert: ${fixture('server.crt')}, key: ${fixture('server.key')}, clientCa: ${fixture('ca.crt')} }
upstreams:
  app: { endpoints: [${up.url}] }
routes:
  - { name: web, listener: mutual, match: { clientIdentity: "spiffe://cluster.local/ns/shop/sa/web" }, upstream: app }
  - { name: billing, listener: mutual, match: { clientIdentity: billing }, upstream: app }
  - { name: anyone, match: { pathPrefix: / }, upstream: app }
`);
  t.teardown(async () => {
    await proxy.close();
    await up.close();
  });
  const curl = (listener: string, ...extra: string[]) =>
    run('curl', ['-sS', '--max-time', '10', '--cacert', fixture('ca.crt'), ...extra, `https://localhost:${proxy.sidecar.listenerPort(listener)}/who`]).then(
      ({ stdout }) => JSON.parse(stdout) as { headers: Record<string, string> },
      (err: { code: number }) => err.code,
    );
  const open = await curl('open');
  t.equal(typeof open, 'object', 'curl --cacert to a TLS listener: answered');
  t.equal((open as { headers: Record<string, string> }).headers['x-forwarded-proto'], 'https', 'x-forwarded-proto https');
  t.type(await curl('mutual'), 'number', 'no client certificate where one is required: the handshake fails');
  const web = await curl('mutual', '--cert', fixture('client-spiffe.crt'), '--key', fixture('client-spiffe.key'));
  t.equal((web as { headers: Record<string, string> }).headers['x-forwarded-client-cert'], 'URI=spiffe://cluster.local/ns/shop/sa/web', 'x-forwarded-client-cert, Envoy’s URI= form');
  const billing = await curl('mutual', '--cert', fixture('client-cn.crt'), '--key', fixture('client-cn.key'), '-H', 'x-forwarded-client-cert: URI=spiffe://forged');
  t.equal((billing as { headers: Record<string, string> }).headers['x-forwarded-client-cert'], 'Subject="CN=billing"', 'a CN identity, and the client’s own header replaced');
  const routes = proxy.accessLog.lines.filter((l) => l.listener === 'mutual').map((l) => [l.route, l.clientIdentity]);
  t.same(routes, [
    ['web', 'spiffe://cluster.local/ns/shop/sa/web'],
    ['billing', 'billing'],
  ], 'match.clientIdentity chose the route; the access log has the identity');
});

t.test('rotation: new connections get the new certificate, open ones go on; a broken file is refused', async (t) => {
  const up = await startUpstream();
  const dir = mkdtempSync(join(tmpdir(), 'outrider-tls-'));
  copyFileSync(fixture('server.crt'), join(dir, 'tls.crt'));
  copyFileSync(fixture('server.key'), join(dir, 'tls.key'));
  const proxy = await startSidecar(`version: 1
admin: { address: 127.0.0.1:0 }
listeners:
  - { name: secure, address: 127.0.0.1:0, tls: { cert: ${join(dir, 'tls.crt')}, key: ${join(dir, 'tls.key')} } }
upstreams:
  app: { endpoints: [${up.url}] }
routes:
  - { name: all, match: { pathPrefix: / }, upstream: app }
`);
  t.teardown(async () => {
    await proxy.close();
    await up.close();
  });
  const port = proxy.sidecar.listenerPort('secure');
  const serialSeen = async (): Promise<string> => {
    const socket = tls.connect({ port, host: '127.0.0.1', servername: 'localhost', ca: read('ca.crt') });
    await once(socket, 'secureConnect');
    const serial = socket.getPeerCertificate().serialNumber;
    socket.destroy();
    return serial;
  };
  const first = await serialSeen();
  const open = tls.connect({ port, host: '127.0.0.1', servername: 'localhost', ca: read('ca.crt') });
  await once(open, 'secureConnect');
  const status = (await proxy.admin('/status')).json() as { listeners: { tls?: { expires: string } }[] };
  t.match(status.listeners[0]?.tls?.expires ?? '', /^20\d\d-/, '/status shows when the certificate expires');

  copyFileSync(fixture('server-2.key'), join(dir, 'tls.key'));
  copyFileSync(fixture('server-2.crt'), join(dir, 'tls.crt'));
  await until(async () => (await serialSeen()) !== first, 'new connections to get the rotated certificate');
  t.pass('a new connection sees the new certificate');
  open.write('GET /still-open HTTP/1.1\r\nHost: app\r\nConnection: close\r\n\r\n');
  const [answer] = (await once(open, 'data')) as [Buffer];
  t.match(answer.toString(), /^HTTP\/1\.1 200 /, 'the connection opened before the rotation still serves');

  const rotated = await serialSeen();
  writeFileSync(join(dir, 'tls.crt'), 'not a certificate');
  await until(() => proxy.opsLog.lines.some((l) => String(l.msg).includes('previous certificate stays')), 'the broken file to be reported');
  t.equal(await serialSeen(), rotated, 'the previous certificate stays in use');
});

guard.check(t);
