/**
 * DNS re-resolution of an endpoint given as one name (upstream.ts #refresh): when the answer
 * changes, new requests go to the new addresses, an address still in the answer keeps its
 * endpoint (pool, in-flight count), a dropped one has its pool closed, and a failed lookup keeps
 * the last good addresses. Real servers on 127.0.0.1 and 127.0.0.2 (same port, as pods behind a
 * headless Service), and the real resolveEndpoint (node's lookup) on the address the test says
 * the name has now: the one thing injected is which name the lookup is asked (UpstreamOptions),
 * because no DNS server here can be made to change its answer.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import t, { type Test } from 'tap';
import { request, type Pool } from 'undici';
import { loadPolicyText } from '../../src/config/load.js';
import type { EndpointUrl } from '../../src/config/types.js';
import { resolveEndpoint } from '../../src/upstream/resolve.js';
import { UpstreamRuntime, type Endpoint } from '../../src/upstream/upstream.js';
import { until } from '../helpers/held.js';

interface Pod {
  readonly address: string;
  readonly port: number;
  /** Requests answered, and connections closed by the other side. */
  served: number;
  closedConnections: number;
  close(): Promise<void>;
}

async function listen(server: Server, port: number, address: string): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, address, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

async function pod(address: string, port: number): Promise<Pod> {
  const sockets = new Set<Socket>();
  const state = {
    address,
    port: 0,
    served: 0,
    closedConnections: 0,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  const server = createServer((_req, res) => {
    state.served += 1;
    res.end(address);
  });
  // Keep idle connections (node closes them after 5 s): only the sidecar may end one here.
  server.keepAliveTimeout = 60_000;
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => {
      sockets.delete(socket);
      state.closedConnections += 1;
    });
  });
  await listen(server, port, address);
  state.port = (server.address() as AddressInfo).port;
  return state;
}

/** Two pods on one port: 127.0.0.1 and 127.0.0.2 (all of 127/8 is loopback on Linux). */
async function twoPods(t: Test): Promise<{ port: number; one: Pod; two: Pod }> {
  for (let attempt = 0; ; attempt++) {
    const one = await pod('127.0.0.1', 0);
    const port = one.port;
    try {
      const two = await pod('127.0.0.2', port);
      t.teardown(async () => {
        await one.close();
        await two.close();
      });
      return { port, one, two };
    } catch (err) {
      await one.close();
      if (attempt === 5) throw err;
    }
  }
}

/** Send one request through an endpoint's own pool; returns which pod answered. */
async function through(endpoint: Endpoint | undefined): Promise<string> {
  if (endpoint === undefined) throw new Error('no endpoint picked');
  const res = await request(`${endpoint.origin}/`, { dispatcher: endpoint.pool as Pool });
  return res.body.text();
}

t.test('a changed DNS answer: new addresses get the requests, kept ones keep their endpoint, dropped ones are closed', async (t) => {
  const { port, one, two } = await twoPods(t);
  const loaded = loadPolicyText(
    `version: 1
listeners: [ { name: outbound, address: 127.0.0.1:0 } ]
upstreams:
  app: { endpoints: [http://catalog.test:${port}], idleTimeout: 60s }
routes: [ { name: all, match: { pathPrefix: / }, upstream: app } ]
`,
    'policy.yaml',
  );
  if (!loaded.ok) throw new Error(loaded.issues.map((i) => i.message).join('\n'));
  const policy = loaded.policy.upstreams.get('app');
  if (policy === undefined) throw new Error('no upstream app');

  // What the name resolves to right now: addresses the real lookup is asked for in its place.
  let answer: string[] = ['127.0.0.1'];
  let failing: Error | undefined = undefined;
  let lookups = 0;
  const resolve = async (endpoint: EndpointUrl): Promise<EndpointUrl[]> => {
    lookups += 1;
    if (failing !== undefined) throw failing;
    return (await Promise.all(answer.map((host) => resolveEndpoint({ ...endpoint, host })))).flat();
  };
  const resolveErrors: string[] = [];
  const upstream = new UpstreamRuntime(policy, {}, { resolve, refreshMs: 10 });
  t.teardown(() => upstream.close());
  await upstream.start({ onResolveError: (_name, err) => void resolveErrors.push(err.message) });
  const origins = (): string[] => upstream.endpoints.map((e) => e.origin);

  t.same(origins(), [`http://127.0.0.1:${port}`], 'resolved at start');
  t.equal(await through(upstream.pick([])), '127.0.0.1', 'requests reach the address the name had');
  const first = upstream.endpoints[0];

  // The name moves to the other pod. (idleTimeout 60 s: only the pool closing can end the old connection here.)
  answer = ['127.0.0.2'];
  await until(() => origins().join() === `http://127.0.0.2:${port}`, 'the endpoints to follow the new answer');
  t.equal(await through(upstream.pick([])), '127.0.0.2', 'new requests reach the new address');
  await until(() => one.closedConnections >= 1, "the dropped address's connection to be closed");
  t.pass("the dropped address's pool was closed (its keep-alive connection ended)");
  t.ok((first?.pool as Pool | undefined)?.closed, 'its pool is closed');

  // Both pods: the kept address keeps its endpoint object (pool, in-flight count, outlier state).
  const kept = upstream.endpoints[0];
  answer = ['127.0.0.2', '127.0.0.1'];
  await until(() => origins().length === 2, 'the endpoints to grow to two');
  t.same(origins(), [`http://127.0.0.2:${port}`, `http://127.0.0.1:${port}`]);
  t.equal(upstream.endpoints[0], kept, 'the address that stayed keeps its endpoint');
  t.not(upstream.endpoints[1], first, 'the address that came back gets a new endpoint (its old pool is closed)');
  const answered = [];
  for (let i = 0; i < 4; i++) answered.push(await through(upstream.pick([])));
  t.same([...new Set(answered)].sort(), ['127.0.0.1', '127.0.0.2'], 'both addresses get requests');

  // A failed lookup keeps the last good addresses.
  const before = upstream.endpoints;
  failing = Object.assign(new Error('getaddrinfo EAI_AGAIN catalog.test'), { code: 'EAI_AGAIN' });
  const seen = lookups;
  await until(() => resolveErrors.length >= 1 && lookups > seen, 'a failed lookup to be reported');
  t.match(resolveErrors[0], /EAI_AGAIN/, 'the failure is reported (the sidecar logs it)');
  t.equal(upstream.endpoints, before, 'and the endpoints are left as they were');
  t.same([await through(upstream.pick([])), await through(upstream.pick([]))].sort(), ['127.0.0.1', '127.0.0.2'], 'still serving');
  t.equal(two.served > 0 && one.served > 0, true);
});

t.test('resolveEndpoint: an IPv6 answer becomes a bracketed origin with the name’s port', async (t) => {
  const resolved = await resolveEndpoint({ origin: 'http://v6.test:8080', host: '::1', port: 8080 });
  t.same(resolved, [{ origin: 'http://[::1]:8080', host: '::1', port: 8080, tlsName: '::1' }], 'the name asked for is kept for TLS');
  const secure = await resolveEndpoint({ origin: 'https://localhost:8443', host: 'localhost', port: 8443 });
  t.ok(secure.length > 0 && secure.every((e) => e.origin.startsWith('https://') && e.tlsName === 'localhost'), 'an https:// name stays https://, with the name TLS must expect');
  await t.rejects(resolveEndpoint({ origin: 'http://nonexistent.invalid:80', host: 'nonexistent.invalid', port: 80 }), { code: 'ENOTFOUND' }, 'a name that does not resolve rejects (the upstream keeps its last addresses)');
});
