/**
 * `unrouted: passthrough` on a running sidecar (traffic.md, Listeners): an unrouted request
 * goes to its own authority, with the defaults' clocks and nothing else, observed as route
 * `passthrough`; never back to the sidecar's own sockets. The origin cache and the parsing
 * are test/sidecar/passthrough-origins.test.ts's.
 */
import t, { type Test } from 'tap';
import { until } from '../helpers/held.js';
import { guardProcess } from '../helpers/guard.js';
import { h2Request, h2Session } from '../helpers/h2-client.js';
import { send } from '../helpers/http.js';
import { rawExchange } from '../helpers/raw.js';
import { startSidecar, type TestSidecar } from '../helpers/sidecar.js';
import { delayed, startUpstream, status, type TestUpstream } from '../helpers/upstream.js';
import { freePort } from '../e2e/process.js';
import { baseDocument, loadDocument, messages, policyOf, withValue } from '../config/fixtures/policy.js';

const guard = guardProcess();

function policy(routed: TestUpstream, defaults = ''): string {
  return `version: 1
admin: { address: 127.0.0.1:0 }
drainTimeout: 1s
listeners:
  - { name: outbound, address: 127.0.0.1:0, unrouted: passthrough }
  - { name: strict, address: 127.0.0.1:0 }
upstreams:
  routed: { endpoints: [${routed.url}] }
${defaults}
routes:
  - { name: known, match: { host: known.test }, upstream: routed }
`;
}

async function setUp(t: Test, defaults = ''): Promise<{ proxy: TestSidecar; routed: TestUpstream; other: TestUpstream }> {
  const routed = await startUpstream();
  const other = await startUpstream();
  const proxy = await startSidecar(policy(routed, defaults));
  t.teardown(async () => {
    await proxy.close();
    await routed.close();
    await other.close();
  });
  return { proxy, routed, other };
}

const lineFor = (proxy: TestSidecar, path: string): Record<string, unknown> | undefined => proxy.accessLog.lines.find((l) => l.path === path);

t.test('an unrouted request goes to its Host, observed as route passthrough', async (t) => {
  const { proxy, routed, other } = await setUp(t);
  const authority = `127.0.0.1:${other.port}`;
  const reply = await send(proxy.url(), '/free?q=1', { headers: { host: authority } });
  t.equal(reply.status, 200);
  const seen = reply.json<{ url: string; headers: Record<string, string> }>();
  t.equal(seen.url, '/free?q=1', 'path and query as sent');
  t.equal(seen.headers.host, authority, 'Host kept');
  t.equal(seen.headers['x-outrider-hops'], '1', 'the hop count still counts');
  t.equal(seen.headers['x-outrider-attempt'], '1');
  t.equal(routed.requests.length, 0, 'not to any upstream of the policy');
  await until(() => lineFor(proxy, '/free?q=1') !== undefined, 'its access-log line');
  t.match(lineFor(proxy, '/free?q=1'), { route: 'passthrough', upstream: authority, endpoint: `http://${authority}`, status: 200, attempts: 1 });
  const metrics = (await proxy.admin('/metrics')).body;
  t.match(metrics, /outrider_requests_total\{listener="outbound",route="passthrough",upstream="passthrough",status_class="2xx",protocol="http1"\} 1/, 'metrics: route passthrough, one bounded upstream label');
  t.notMatch(metrics, new RegExp(`upstream="127\\.0\\.0\\.1:${other.port}"`), 'no label per authority');

  const known = await send(proxy.url(), '/k', { headers: { host: 'known.test' } });
  t.equal(known.status, 200, 'a routed request still takes its route');
  t.equal(routed.requests.length, 1);
  const strict = await send(proxy.url('strict'), '/free', { headers: { host: authority } });
  t.equal(strict.status, 404, 'a listener without passthrough still rejects');
  t.equal(strict.headers['x-outrider-error'], 'no-route');
});

t.test('absolute-form: the URI names the authority; no port means 80', async (t) => {
  const { proxy, other } = await setUp(t);
  const reply = await send(proxy.url(), `http://127.0.0.1:${other.port}/abs`, { headers: { host: 'elsewhere.test' } });
  t.equal(reply.status, 200);
  t.equal(reply.json<{ headers: Record<string, string> }>().headers.host, `127.0.0.1:${other.port}`, 'the URI wins over Host');
  const noPort = await send(proxy.url(), '/p80', { headers: { host: '127.0.0.1' } });
  await until(() => lineFor(proxy, '/p80') !== undefined, 'the port-80 line');
  t.match(lineFor(proxy, '/p80'), { upstream: '127.0.0.1:80', endpoint: 'http://127.0.0.1:80' }, `port 80 when none is given (answered ${noPort.status})`);
});

t.test('nothing else: the defaults block retry does not apply, its timeout does', async (t) => {
  const { proxy, routed, other } = await setUp(t, 'defaults:\n  timeout: 300ms\n  retry: { attempts: 3, "on": [503] }');
  other.behave(status(503));
  routed.behave(status(503));
  const passed = await send(proxy.url(), '/once', { headers: { host: `127.0.0.1:${other.port}` } });
  t.equal(passed.status, 503);
  t.equal(other.requests.length, 1, 'one try: no retry on passthrough');
  await send(proxy.url(), '/r', { headers: { host: 'known.test' } });
  t.equal(routed.requests.length, 3, 'while a routed request gets the defaults retry');
  other.behave(delayed(5_000));
  const started = Date.now();
  const slow = await send(proxy.url(), '/slow', { headers: { host: `127.0.0.1:${other.port}` } });
  t.equal(slow.status, 504, "the defaults' timeout");
  t.ok(Date.now() - started < 3_000, 'after about 300 ms');
  t.match(slow.json(), { error: 'timeout', route: 'passthrough' });
});

t.test('never back to its own sockets: 508 loop-detected, sent nowhere', async (t) => {
  const { proxy } = await setUp(t);
  const own = proxy.sidecar.listenerPort('outbound');
  for (const host of [`127.0.0.1:${own}`, `localhost:${own}`, `127.0.0.1:${proxy.sidecar.listenerPort('strict')}`, `127.0.0.1:${proxy.sidecar.adminPort()}`]) {
    const before = proxy.accessLog.lines.length;
    const reply = await send(proxy.url(), '/loop', { headers: { host } });
    t.equal(reply.status, 508, `${host}: refused`);
    t.equal(reply.headers['x-outrider-error'], 'loop-detected');
    await until(() => proxy.accessLog.lines.length > before, 'its line');
    t.equal(proxy.accessLog.lines.length, before + 1, `${host}: one access-log line, so it was not sent back in`);
  }
  const hops = await send(proxy.url(), '/hops', { headers: { host: '127.0.0.1:9', 'x-outrider-hops': '8' } });
  t.equal(hops.status, 508, 'the hop count still stops a request that has passed 8 times');
});

t.test('a wildcard listener: its port on any of our addresses is ours', async (t) => {
  const port = await freePort();
  const proxy = await startSidecar(`version: 1
admin: { address: 127.0.0.1:0 }
listeners: [ { name: outbound, address: "0.0.0.0:${port}", unrouted: passthrough } ]
upstreams: { none: { endpoints: [http://127.0.0.1:9] } }
routes: [ { name: known, match: { host: known.test }, upstream: none } ]
`);
  t.teardown(() => proxy.close());
  for (const host of [`127.0.0.2:${port}`, `[::1]:${port}`]) {
    t.equal((await send(proxy.url(), '/w', { headers: { host } })).status, 508, `${host} reaches 0.0.0.0:${port}`);
  }
});

t.test('what cannot be passed through', async (t) => {
  const { proxy } = await setUp(t);
  const bad = await send(proxy.url(), '/x', { headers: { host: 'user@example.test' } });
  t.equal(bad.status, 400);
  t.match(bad.json(), { error: 'bad-request', route: 'passthrough', message: /not host\[:port\]/ });
  t.equal((await send(proxy.url(), '/x', { headers: { host: 'example.test:0' } })).status, 400, 'port 0');
  const port = proxy.sidecar.listenerPort('outbound');
  const noHost = await rawExchange(port, 'GET /old HTTP/1.0\r\n\r\n');
  t.equal(noHost.responses[0]?.status, 404, 'HTTP/1.0 without Host: nothing to pass through to');
  t.match(noHost.responses[0]?.body, /no authority to pass through to/);
});

t.test('HTTP/2 clients pass through too', async (t) => {
  const { proxy, other } = await setUp(t);
  const session = await h2Session(proxy.url());
  t.teardown(() => session.close());
  const reply = await h2Request(session, '/h2', { ':authority': `127.0.0.1:${other.port}` });
  t.equal(reply.status, 200);
  t.equal(JSON.parse(reply.body).headers.host, `127.0.0.1:${other.port}`, 'to the :authority, over HTTP/1.1');
  await until(() => lineFor(proxy, '/h2') !== undefined, 'the h2 line');
  t.match(lineFor(proxy, '/h2'), { route: 'passthrough', protocol: 'h2', status: 200 });
  const self = await h2Request(session, '/h2-self', { ':authority': `127.0.0.1:${proxy.sidecar.listenerPort('outbound')}` });
  t.equal(self.status, 508, 'and one naming the sidecar itself is refused');
});

t.test('a reload to reject turns passthrough off', async (t) => {
  const { proxy, routed, other } = await setUp(t);
  const host = `127.0.0.1:${other.port}`;
  t.equal((await send(proxy.url(), '/a', { headers: { host } })).status, 200);
  proxy.rewrite(policy(routed).replace(', unrouted: passthrough', ''));
  t.same(await proxy.sidecar.reload(), { result: 'applied' });
  t.equal((await send(proxy.url(), '/b', { headers: { host } })).status, 404, 'reject again');
});

t.test('the policy: the defaults clocks, and the route name passthrough taken when used', async (t) => {
  const on = withValue(baseDocument(), ['listeners', 0, 'unrouted'], 'passthrough');
  t.same(policyOf(loadDocument(on)).passthrough, { timeoutMs: 15_000, idleTimeoutMs: 300_000 }, 'built-in defaults');
  const timed = withValue(withValue(on, ['defaults', 'timeout'], '2s'), ['defaults', 'idleTimeout'], '30s');
  t.same(policyOf(loadDocument(timed)).passthrough, { timeoutMs: 2_000, idleTimeoutMs: 30_000 }, 'from the defaults block');
  t.same(messages(loadDocument(withValue(on, ['routes', 0, 'name'], 'passthrough'))), [
    'routes[0].name: the name passthrough is taken by the requests a listener with unrouted: passthrough forwards; pick another',
  ]);
  t.same(messages(loadDocument(withValue(baseDocument(), ['routes', 0, 'name'], 'passthrough'))), [], 'free while no listener passes through');
});

guard.check(t);
