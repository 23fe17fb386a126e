import t from 'tap';
import { until } from '../helpers/held.js';
import { send } from '../helpers/http.js';
import { simplePolicy, startSidecar } from '../helpers/sidecar.js';
import { startUpstream, status } from '../helpers/upstream.js';

t.test('one JSON access-log line per request with the contract fields', async (t) => {
  const upstream = await startUpstream(status(201, 'made'));
  const proxy = await startSidecar(simplePolicy(upstream.url));
  t.teardown(async () => {
    await proxy.close();
    await upstream.close();
  });

  await send(proxy.url(), '/items/1?x=1', { method: 'PUT', body: 'x', headers: { 'x-request-id': 'abc-1' } });
  const ids = ['abc-1'];
  upstream.behave(status(503));
  await send(proxy.url(), '/down', { headers: { 'x-request-id': 'abc-2' } });
  ids.push('abc-2');
  // A line is written once the response has been fully sent, which may be just after the client has it.
  await until(() => proxy.accessLog.lines.length >= 2, 'two access-log lines');

  const lines = proxy.accessLog.lines;
  t.equal(lines.length, 2, 'one line per request');
  const [first, second] = lines;
  t.match(first, {
    requestId: 'abc-1',
    listener: 'outbound',
    route: 'all',
    upstream: 'app',
    endpoint: upstream.url,
    method: 'PUT',
    path: '/items/1?x=1',
    status: 201,
    attempts: 1,
    hedged: false,
    breakerState: null,
    errorCode: null,
    clientIdentity: null,
  });
  t.type(first?.duration, 'number');
  t.ok(typeof first?.time === 'string' || typeof first?.time === 'number', 'a timestamp');
  t.equal(second?.status, 503, 'an upstream 503 is logged as such');
  t.equal(second?.requestId, ids[1]);

  await send(proxy.url(), 'ftp://nope');
  await until(() => proxy.accessLog.lines.length >= 3, 'a third access-log line');
  t.equal(proxy.accessLog.lines.length, 3, 'one line for the refused request');
  t.match(proxy.accessLog.lines[2], { status: 400, errorCode: 'bad-request', route: null });
});

t.test('accessLog: off writes no lines', async (t) => {
  const upstream = await startUpstream();
  const proxy = await startSidecar(simplePolicy(upstream.url).replace('drainTimeout: 2s', 'drainTimeout: 2s\naccessLog: off'));
  t.teardown(async () => {
    await proxy.close();
    await upstream.close();
  });
  await send(proxy.url(), '/quiet');
  // The request is counted in the same step that would write its access-log line.
  await until(async () => /outrider_requests_total\{listener="outbound",route="all",upstream="app",status_class="2xx",protocol="http1"\} 1/.test((await proxy.admin('/metrics')).body), 'the request to be counted');
  t.equal(proxy.accessLog.lines.length, 0, 'no line was written');
});

t.test('an endpoint given as one DNS name is resolved to addresses', async (t) => {
  const upstream = await startUpstream();
  const proxy = await startSidecar(simplePolicy(`http://localhost:${upstream.port}`));
  t.teardown(async () => {
    await proxy.close();
    await upstream.close();
  });
  const status = (await proxy.admin('/status')).json() as { upstreams: { endpoints: { origin: string }[] }[] };
  const origins = status.upstreams[0]?.endpoints.map((e) => e.origin) ?? [];
  t.ok(origins.length >= 1, 'at least one address');
  t.ok(origins.every((o) => /^http:\/\/(127\.0\.0\.1|\[::1\]):\d+$/.test(o)), `resolved: ${origins.join(', ')}`);
  if (origins.includes(`http://127.0.0.1:${upstream.port}`)) {
    t.equal((await send(proxy.url(), '/via-dns')).status, 200, 'requests reach the resolved address');
  }
});
