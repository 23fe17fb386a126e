import t from 'tap';
import { send } from '../helpers/http.js';
import { startSidecar, type TestSidecar } from '../helpers/sidecar.js';
import { startUpstream, type TestUpstream } from '../helpers/upstream.js';

// Four upstreams; which one received a request tells which route matched.
const names = ['catalog', 'regex', 'headers', 'fallback', 'inboundApp'] as const;
type Name = (typeof names)[number];
const upstreams = {} as Record<Name, TestUpstream>;
let proxy: TestSidecar;

function policy(): string {
  const ups = names.map((n) => `  ${n}: { endpoints: [${upstreams[n].url}] }`).join('\n');
  return `version: 1
admin: { address: 127.0.0.1:0 }
listeners:
  - { name: outbound, address: 127.0.0.1:0 }
  - { name: inbound, address: 127.0.0.1:0 }
upstreams:
${ups}
routes:
  - name: inbound-app
    listener: inbound
    match: { pathPrefix: / }
    upstream: inboundApp
  - name: exact-items
    listener: outbound
    match: { host: catalog, path: /items, methods: [GET, HEAD] }
    upstream: catalog
  - name: item-by-id
    listener: outbound
    match: { pathRegex: "^/items/[0-9]+$" }
    upstream: regex
  - name: canary
    listener: outbound
    match: { pathPrefix: /items, headers: { x-canary: "1" } }
    upstream: headers
  - name: api
    listener: outbound
    match: { pathPrefix: /api/ }
    upstream: fallback
`;
}

/** Send, then name the upstream that saw the request (or 'none'). */
async function routedTo(path: string, opts: Parameters<typeof send>[2] = {}, listener = 'outbound'): Promise<Name | 'none'> {
  const before = names.map((n) => upstreams[n].requests.length);
  await send(proxy.url(listener), path, opts);
  const hit = names.find((n, i) => upstreams[n].requests.length > (before[i] as number));
  return hit ?? 'none';
}

t.before(async () => {
  for (const n of names) upstreams[n] = await startUpstream();
  proxy = await startSidecar(policy());
});
t.teardown(async () => {
  await proxy.close();
  for (const n of names) await upstreams[n].close();
});

t.test('host matches the Host header with the port ignored, case-insensitively', async (t) => {
  t.equal(await routedTo('/items', { headers: { host: 'catalog:8080' } }), 'catalog');
  t.equal(await routedTo('/items', { headers: { host: 'CATALOG' } }), 'catalog');
  t.equal(await routedTo('/items', { headers: { host: 'other' } }), 'none', 'another host does not match');
});

t.test('path is exact; pathRegex and pathPrefix test the path without the query', async (t) => {
  t.equal(await routedTo('/items?page=2', { headers: { host: 'catalog' } }), 'catalog');
  t.equal(await routedTo('/items/42?x=1'), 'regex');
  t.equal(await routedTo('/items/abc'), 'none', 'regex does not match non-digits, prefix needs the header');
  t.equal(await routedTo('/api/v1/things'), 'fallback');
  t.equal(await routedTo('/apix'), 'none', 'prefix /api/ does not match /apix');
});

t.test('methods restrict a route', async (t) => {
  t.equal(await routedTo('/items', { method: 'HEAD', headers: { host: 'catalog' } }), 'catalog');
  t.equal(await routedTo('/items', { method: 'POST', headers: { host: 'catalog' } }), 'none');
});

t.test('headers match exact values', async (t) => {
  t.equal(await routedTo('/items/abc', { headers: { 'x-canary': '1' } }), 'headers');
  t.equal(await routedTo('/items/abc', { headers: { 'x-canary': '2' } }), 'none');
});

t.test('first match wins in file order', async (t) => {
  // /items/7 with x-canary matches both item-by-id and canary; item-by-id comes first.
  t.equal(await routedTo('/items/7', { headers: { 'x-canary': '1' } }), 'regex');
  // GET catalog/items with x-canary matches exact-items and canary; exact-items comes first.
  t.equal(await routedTo('/items', { headers: { host: 'catalog', 'x-canary': '1' } }), 'catalog');
});

t.test('absolute-form requests are routed by their authority', async (t) => {
  t.equal(await routedTo('http://catalog/items'), 'catalog');
  t.equal(await routedTo('http://catalog:9000/items?q=1'), 'catalog');
  const seen = upstreams.catalog.requests.at(-1);
  t.equal(seen?.url, '/items?q=1', 'the upstream gets origin-form');
  t.equal(seen?.headers.host, 'catalog:9000', 'Host is the authority the client addressed');
});

t.test('listener scoping: a route limited to one listener is invisible on another', async (t) => {
  t.equal(await routedTo('/api/x', {}, 'inbound'), 'inboundApp');
  t.equal(await routedTo('/anything', {}, 'outbound'), 'none');
});

t.test('no match: 404 JSON no-route naming the listener', async (t) => {
  const reply = await send(proxy.url(), '/nowhere');
  t.equal(reply.status, 404);
  t.equal(reply.headers['x-outrider-error'], 'no-route');
  t.match(reply.headers['content-type'], /application\/json/);
  const body = reply.json();
  t.equal(body.error, 'no-route');
  t.equal(body.listener, 'outbound');
  t.equal(body.route, null);
});

t.test('a request target that is neither origin- nor absolute-form is a 400 bad-request', async (t) => {
  const reply = await send(proxy.url(), 'ftp://catalog/items');
  t.equal(reply.status, 400);
  t.equal(reply.headers['x-outrider-error'], 'bad-request');
  const after = await send(proxy.url(), '/api/ok');
  t.equal(after.status, 200, 'the process stays up and serves the next request');
});
