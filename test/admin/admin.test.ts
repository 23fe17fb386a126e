import t from 'tap';
import { send } from '../helpers/http.js';
import { startSidecar } from '../helpers/sidecar.js';
import { startUpstream } from '../helpers/upstream.js';

t.test('admin endpoints', async (t) => {
  const upstream = await startUpstream();
  const proxy = await startSidecar(`version: 1
admin: { address: 127.0.0.1:0 }
listeners: [ { name: outbound, address: 127.0.0.1:0 } ]
upstreams:
  app: { endpoints: ["http://127.0.0.1:${upstream.port}"] }
routes:
  - name: items
    match: { pathPrefix: /items, headers: { authorization: "Bearer token-xyz" } }
    upstream: app
    timeout: 3s
  - name: rest
    match: { pathPrefix: / }
    upstream: app
    retry: { attempts: 2 }
`);
  t.teardown(async () => {
    await proxy.close();
    await upstream.close();
  });

  const health = await proxy.admin('/healthz');
  t.equal(health.status, 200);
  const ready = await proxy.admin('/readyz');
  t.equal(ready.status, 200);
  t.same(ready.json(), { ready: true });

  await send(proxy.url(), '/items/1', { headers: { authorization: 'Bearer token-xyz' } });
  await send(proxy.url(), '/other');
  await send(proxy.url(), '/other');

  const metrics = await proxy.admin('/metrics');
  t.equal(metrics.status, 200);
  t.match(metrics.body, /outrider_requests_total\{listener="outbound",route="items",upstream="app",status_class="2xx",protocol="http1"\} 1/);
  t.match(metrics.body, /outrider_requests_total\{listener="outbound",route="rest",upstream="app",status_class="2xx",protocol="http1"\} 2/);
  t.match(metrics.body, /outrider_request_duration_seconds_bucket\{le="[0-9.]+",route="rest",upstream="app",status_class="2xx"\}/);
  t.match(metrics.body, /outrider_process_resident_memory_bytes/);

  const config = await proxy.admin('/config');
  t.equal(config.status, 200);
  const policy = config.json() as { routes: { name: string; match: { headers?: Record<string, string> } }[]; upstreams: Record<string, { endpoints: string[] }> };
  t.same(policy.routes.map((r) => r.name), ['items', 'rest'], '/config shows the running policy');
  t.equal(policy.routes[0]?.match.headers?.authorization, '<redacted>', 'header values are not printed');

  const status = (await proxy.admin('/status')).json() as {
    ready: boolean;
    routes: { name: string; layers: string[]; timeoutMs: number }[];
  };
  t.equal(status.ready, true);
  t.same(status.routes[0]?.layers.slice(0, 2), ['observe', 'timeout']);
  t.equal(status.routes[0]?.layers.at(-1), 'forward');
  t.equal(status.routes[0]?.timeoutMs, 3000);

  const missing = await proxy.admin('/nope');
  t.equal(missing.status, 404);
});
