/**
 * HTTP/2 both ways with real clients and servers: curl --http2-prior-knowledge and h2load
 * (nghttp2) against a plain route; h2 by ALPN on a TLS listener; trailers from an HTTP/1.1
 * upstream to an HTTP/2 client and back; upstreams spoken to with protocol h2c, h2 (ALPN must
 * agree, else upstream-unreachable saying so) and auto (ALPN decides, HTTP/1.1 allowed).
 */
import { execFile } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { createServer as createHttp } from 'node:http';
import { connect, constants, createSecureServer, createServer as createH2, type IncomingHttpHeaders } from 'node:http2';
import { createServer as createHttps } from 'node:https';
import type { AddressInfo } from 'node:net';
import { promisify } from 'node:util';
import t, { type Test } from 'tap';
import { guardProcess } from '../helpers/guard.js';
import { send } from '../helpers/http.js';
import { startSidecar } from '../helpers/sidecar.js';

const guard = guardProcess();
const run = promisify(execFile);
const fixture = (name: string): Buffer => readFileSync(new URL(`../fixtures/tls/${name}`, import.meta.url).pathname);

function policy(upstreams: string, listenerExtra = ''): string {
  return `version: 1
admin: { address: 127.0.0.1:0 }
drainTimeout: 1s
listeners:
  - { name: outbound, address: 127.0.0.1:0${listenerExtra} }
upstreams:
${upstreams}
routes:
  - { name: all, match: { pathPrefix: / }, upstream: app }
`;
}

async function listen<S extends { listen(port: number, host: string): unknown; address(): unknown; close(): unknown }>(t: Test, server: S): Promise<number> {
  server.listen(0, '127.0.0.1');
  await once(server as never, 'listening');
  t.teardown(() => void server.close());
  return (server.address() as AddressInfo).port;
}

/** An HTTP/1.1 app that answers with its protocol and chunked trailers. */
async function http1App(t: Test): Promise<number> {
  return listen(
    t,
    createHttp((req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain', trailer: 'x-checksum' });
      res.write(`HTTP/${req.httpVersion} ${req.url}`);
      res.addTrailers({ 'x-checksum': 'abc' });
      res.end();
    }),
  );
}

/** One HTTP/2 request with node's client; the answer's headers, body and trailers. */
async function h2Get(origin: string, path: string, options: { ca?: Buffer } = {}): Promise<{ headers: IncomingHttpHeaders; body: string; trailers: IncomingHttpHeaders | undefined; alpn: string | false | undefined }> {
  const session = connect(origin, options.ca === undefined ? {} : { ca: options.ca });
  try {
    const stream = session.request({ ':path': path });
    const [headers] = (await once(stream, 'response')) as [IncomingHttpHeaders];
    let trailers: IncomingHttpHeaders | undefined;
    stream.on('trailers', (h: IncomingHttpHeaders) => (trailers = h));
    let body = '';
    for await (const chunk of stream) body += String(chunk);
    return { headers, body, trailers, alpn: session.alpnProtocol };
  } finally {
    session.close();
  }
}

t.test('curl --http2-prior-knowledge and h2load on the same port as HTTP/1.1', async (t) => {
  const app = await http1App(t);
  const sidecar = await startSidecar(policy(`  app: { endpoints: [http://127.0.0.1:${app}] }`));
  t.teardown(() => sidecar.close());
  const url = `${sidecar.url()}/hello`;
  const base = sidecar.url();
  const curl = await run('curl', ['-s', '-i', '--http2-prior-knowledge', url]);
  t.match(curl.stdout, /^HTTP\/2 200/, 'curl speaks HTTP/2 with prior knowledge');
  t.match(curl.stdout, /HTTP\/1\.1 \/hello/, 'the HTTP/1.1 upstream answered it');
  const http1 = await send(base, '/hello');
  t.equal(http1.status, 200, 'HTTP/1.1 still served on the same port');
  const h2load = await run('h2load', ['-n', '400', '-c', '4', '-m', '10', url]);
  t.match(h2load.stdout, /400 succeeded, 0 failed, 0 errored/, 'h2load: 400 of 400, 10 streams at a time per connection');
  t.match(h2load.stdout, /status codes: 400 2xx/);
  const metrics = (await sidecar.admin('/metrics')).body;
  t.match(metrics, /outrider_requests_total\{[^}]*protocol="h2"\} 401/, 'counted as h2');
  t.match(metrics, /outrider_requests_total\{[^}]*protocol="http1"\} 1/, 'and the HTTP/1.1 request as http1');
});

t.test('trailers cross protocols: HTTP/1.1 chunked trailers to an HTTP/2 client, HTTP/2 trailers to an HTTP/1.1 client', async (t) => {
  const app1 = await http1App(t);
  const app2 = await listen(
    t,
    createH2((req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write(`HTTP/${req.httpVersion}`);
      res.addTrailers({ 'x-checksum': 'def' });
      res.end();
    }),
  );
  const toH1 = await startSidecar(policy(`  app: { endpoints: [http://127.0.0.1:${app1}] }`));
  const toH2 = await startSidecar(policy(`  app: { endpoints: [http://127.0.0.1:${app2}], protocol: h2c }`));
  t.teardown(() => Promise.all([toH1.close(), toH2.close()]));
  const h2Client = await h2Get(toH1.url(), '/t');
  t.equal(h2Client.body, 'HTTP/1.1 /t');
  t.equal(h2Client.trailers?.['x-checksum'], 'abc', "the HTTP/1.1 upstream's trailer reached the HTTP/2 client");
  const curl = await run('curl', ['-s', '--raw', `${toH2.url()}/t`]);
  t.match(curl.stdout, /HTTP\/2\.0/, 'the upstream was spoken to in HTTP/2 (h2c)');
  t.match(curl.stdout, /\r\nx-checksum: def\r\n/i, "the HTTP/2 upstream's trailer went out as a chunked trailer");
});

t.test('a TLS listener offers h2 and http/1.1 by ALPN', async (t) => {
  const app = await http1App(t);
  const cert = new URL('../fixtures/tls/server.crt', import.meta.url).pathname;
  const key = new URL('../fixtures/tls/server.key', import.meta.url).pathname;
  const sidecar = await startSidecar(policy(`  app: { endpoints: [http://127.0.0.1:${app}] }`, `, tls: { cert: ${cert}, key: ${key} }`));
  t.teardown(() => sidecar.close());
  const origin = `https://localhost:${sidecar.sidecar.listenerPort('outbound')}`;
  const h2 = await h2Get(origin, '/over-tls', { ca: fixture('ca.crt') });
  t.equal(h2.alpn, 'h2', 'ALPN chose h2');
  t.equal(h2.body, 'HTTP/1.1 /over-tls');
  const curl = await run('curl', ['-s', '-i', '--http1.1', '--cacert', new URL('../fixtures/tls/ca.crt', import.meta.url).pathname, `${origin}/one`]);
  t.match(curl.stdout, /^HTTP\/1\.1 200/, 'a client offering only http/1.1 is served HTTP/1.1');
});

t.test('upstream protocol h2 needs ALPN h2; auto takes what ALPN gives', async (t) => {
  const tls = { cert: fixture('server.crt'), key: fixture('server.key') };
  const h2Port = await listen(t, createSecureServer(tls, (req, res) => res.end(`HTTP/${req.httpVersion}`)));
  const h1Port = await listen(t, createHttps(tls, (req, res) => res.end(`HTTP/${req.httpVersion}`)));
  const ca = new URL('../fixtures/tls/ca.crt', import.meta.url).pathname;
  const sidecar = await startSidecar(`version: 1
admin: { address: 127.0.0.1:0 }
listeners:
  - { name: outbound, address: 127.0.0.1:0 }
upstreams:
  h2ok: { endpoints: [https://localhost:${h2Port}], protocol: h2, tls: { ca: ${ca} } }
  h2on1: { endpoints: [https://localhost:${h1Port}], protocol: h2, tls: { ca: ${ca} } }
  autoOn1: { endpoints: [https://localhost:${h1Port}], protocol: auto, tls: { ca: ${ca} } }
  autoOn2: { endpoints: [https://localhost:${h2Port}], protocol: auto, tls: { ca: ${ca} } }
routes:
  - { name: a, match: { pathPrefix: /h2ok }, upstream: h2ok }
  - { name: b, match: { pathPrefix: /h2on1 }, upstream: h2on1 }
  - { name: c, match: { pathPrefix: /autoOn1 }, upstream: autoOn1 }
  - { name: d, match: { pathPrefix: /autoOn2 }, upstream: autoOn2 }
`);
  t.teardown(() => sidecar.close());
  const base = sidecar.url();
  t.equal((await send(base, '/h2ok')).body, 'HTTP/2.0', 'h2 to an HTTP/2 server');
  const refused = await send(base, '/h2on1');
  t.equal(refused.status, 502);
  t.equal(refused.headers['x-outrider-error'], 'upstream-unreachable');
  t.match(refused.body, /did not agree to HTTP\/2 by ALPN/, 'the message says why');
  t.equal((await send(base, '/autoOn1')).body, 'HTTP/1.1', 'auto falls back to HTTP/1.1');
  t.equal((await send(base, '/autoOn2')).body, 'HTTP/2.0', 'auto takes h2 when offered');
});


t.test('/status shows HTTP/2 connections and streams on the listener and per upstream endpoint', async (t) => {
  const held: (() => void)[] = [];
  const arrived: (() => void)[] = [];
  const app = await listen(
    t,
    createH2((req, res) => {
      if (req.url === '/warm') return void res.end('warm');
      held.push(() => res.end('released'));
      arrived.shift()?.();
    }),
  );
  const sidecar = await startSidecar(policy(`  app: { endpoints: [http://127.0.0.1:${app}], protocol: h2c }`));
  t.teardown(() => sidecar.close());
  const session = connect(sidecar.url());
  t.teardown(() => session.close());
  // A cold undici pool opens a connection per request that arrives while it connects; once
  // one is up, requests share it.
  const warm = session.request({ ':path': '/warm' });
  warm.resume();
  await once(warm, 'end');
  const bothArrived = new Promise<void>((resolve) => arrived.push(() => undefined, resolve));
  const streams = [session.request({ ':path': '/a' }), session.request({ ':path': '/b' })];
  await bothArrived;
  type Status = {
    listeners: { h2?: { connections: number; streams: number } }[];
    upstreams: { protocol: string; endpoints: { connections: number; streams?: number }[] }[];
  };
  const status = (await sidecar.admin('/status')).json() as Status;
  t.same(status.listeners[0]?.h2, { connections: 1, streams: 2 }, 'one client connection carrying two streams');
  t.equal(status.upstreams[0]?.protocol, 'h2c');
  t.same(status.upstreams[0]?.endpoints[0], { ...status.upstreams[0]?.endpoints[0], connections: 1, streams: 2 }, 'both on one upstream connection');
  for (const release of held) release();
  for (const stream of streams) {
    stream.resume();
    await once(stream, 'end');
  }
});


t.test('an HTTP/2 answer cut midway: an upstream failure resets the stream INTERNAL_ERROR, the route timeout CANCEL', async (t) => {
  const app = await listen(
    t,
    createHttp((req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write('part of it');
      // /broken: the upstream dies mid-body; /slow: it stalls until the route timeout.
      if (req.url === '/broken') setImmediate(() => res.socket?.destroy());
    }),
  );
  const sidecar = await startSidecar(policy(`  app: { endpoints: [http://127.0.0.1:${app}] }`).replace('upstream: app }', 'upstream: app, timeout: 300ms }'));
  t.teardown(() => sidecar.close());
  const session = connect(sidecar.url());
  t.teardown(() => session.close());
  for (const [path, code, logged] of [
    ['/broken', constants.NGHTTP2_INTERNAL_ERROR, 'client-closed'],
    ['/slow', constants.NGHTTP2_CANCEL, 'timeout'],
  ] as const) {
    const stream = session.request({ ':path': path });
    stream.on('error', () => undefined);
    let body = '';
    stream.on('data', (c: Buffer) => (body += String(c)));
    await new Promise((resolve) => stream.once('close', resolve)); // events.once would reject on the reset's 'error'
    t.equal(body, 'part of it', `${path}: the part that came`);
    t.equal(stream.rstCode, code, `${path}: then RST_STREAM ${code}`);
    const line = sidecar.accessLog.lines.find((l) => l.path === path);
    t.equal(line?.errorCode, logged, `${path}: logged ${logged}`);
  }
  t.equal(session.closed || session.destroyed, false, 'the connection itself lives on');
});

guard.check(t);
