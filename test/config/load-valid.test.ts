import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { loadPolicyFile } from '../../src/config/load.js';
import type { RoutePolicy } from '../../src/config/types.js';
import { baseDocument, loadDocument, loadYaml, policyOf, report, withValue, yaml } from './fixtures/policy.js';

const IDEMPOTENT = ['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE'];

const minimal = yaml`
  version: 1
  listeners:
    - { name: outbound, address: 127.0.0.1:15001 }
  upstreams:
    app: { endpoints: [http://127.0.0.1:8080] }
  routes:
    - { name: all, upstream: app }
`;

function route(policy: ReturnType<typeof policyOf>, name: string): RoutePolicy {
  const found = policy.routes.find((r) => r.name === name);
  if (found === undefined) throw new Error(`no route ${name}`);
  return found;
}

t.test('the contract example loads (config/examples/contract-example.yaml)', async (t) => {
  const file = new URL('../../config/examples/contract-example.yaml', import.meta.url).pathname;
  const policy = policyOf(await loadPolicyFile(file));

  t.same(policy.admin, { address: { host: '127.0.0.1', port: 9901 } });
  t.equal(policy.drainTimeoutMs, 20_000);
  t.equal(policy.replayBodyLimitBytes, 1_048_576);
  t.equal(policy.accessLog, 'stdout');
  t.same(policy.listeners, [
    { name: 'outbound', address: { host: '127.0.0.1', port: 15001 }, connectAllow: [], tls: undefined, protocols: ['http1', 'h2c'], unrouted: 'reject' },
    { name: 'inbound', address: { host: '0.0.0.0', port: 15006 }, connectAllow: [], tls: undefined, protocols: ['http1', 'h2c'], unrouted: 'reject' },
  ]);
  t.same(policy.upstreams.get('catalog'), {
    name: 'catalog',
    endpoints: [
      { origin: 'http://10.0.0.11:8080', host: '10.0.0.11', port: 8080 },
      { origin: 'http://10.0.0.12:8080', host: '10.0.0.12', port: 8080 },
    ],
    balance: 'least-request',
    connections: 128,
    connectTimeoutMs: 1000,
    idleTimeoutMs: 4000,
    maxResponseHeaderBytes: 65536,
    protocol: 'http1',
    outlier: { consecutiveFailures: 5, ejectForMs: 30_000, maxEjectedRatio: 0.5 },
  });
  t.same(
    policy.routes.map((r) => [r.index, r.name, r.listener, r.upstream, r.timeoutMs]),
    [
      [0, 'app', 'inbound', 'local-app', 15_000],
      [1, 'catalog-reads', 'outbound', 'catalog', 2000],
      [2, 'product-page', 'outbound', undefined, 1000],
    ],
  );

  const app = route(policy, 'app');
  t.same(app.bulkhead, { maxConcurrent: 64, maxQueued: 128, queueTimeoutMs: 50, partitionBy: { kind: 'header', header: 'x-tenant-id' } });

  const reads = route(policy, 'catalog-reads');
  t.equal(reads.match.host, 'catalog');
  t.equal(reads.match.pathPrefix, '/items');
  t.same(reads.match.methods, ['GET', 'HEAD']);
  t.same([...(reads.match.headers ?? [])], [['x-canary', '1']]);
  t.same(reads.retry, {
    attempts: 3,
    perTryTimeoutMs: 300,
    on: ['connect-failure', 'reset', 502, 503, 504],
    backoff: { baseMs: 25, maxMs: 250 },
    budget: { ratio: 0.2, minPerSecond: 10 },
    methods: ['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE'],
  });
  t.same(reads.hedge, {
    delay: { kind: 'percentile', percentile: 95 },
    minDelayMs: 2,
    maxAttempts: 2,
    budget: { ratio: 0.05 },
    methods: ['GET', 'HEAD'],
  });
  t.same(reads.circuitBreaker, {
    failureRatio: 0.5,
    minRequests: 20,
    windowMs: 10_000,
    slowCallMs: 1000,
    openForMs: 5000,
    halfOpenRequests: 3,
    failOn: ['5xx', 'connect-failure', 'reset', 'timeout'],
  });
  t.same(reads.shadow, { upstream: 'catalog-v2', ratio: 0.1, compare: { ignore: ['headers.date', 'body.requestId'], noiseRatio: 0 } });

  const page = route(policy, 'product-page');
  t.same(page.scatterGather, {
    targets: [
      { name: 'details', upstream: 'details', path: '/details/{suffix}', timeoutMs: undefined, allEndpoints: false },
      { name: 'reviews', upstream: 'reviews', path: '/reviews/{suffix}', timeoutMs: 300, allEndpoints: false },
      { name: 'search', upstream: 'search-shards', path: undefined, timeoutMs: undefined, allEndpoints: true },
    ],
    require: { kind: 'all' },
    aggregate: 'group',
    concat: undefined,
  });
  t.equal(page.retry, undefined);
  t.equal(page.hedge, undefined);
});

t.test('the contract example as printed fails only where it is incomplete', async (t) => {
  // The printed example names upstreams it never declares, and pairs `concat` with
  // `aggregate: group`. docs/policy.md explains both; the copy under config/examples fixes them.
  const text = readFileSync(new URL('fixtures/contract-verbatim.yaml', import.meta.url), 'utf8');
  t.same(report(loadYaml(text, 'contract.yaml')), [
    'contract.yaml:83:38: routes[2].scatterGather.targets[0].upstream: unknown upstream "details"; defined: local-app, catalog, catalog-v2',
    'contract.yaml:84:38: routes[2].scatterGather.targets[1].upstream: unknown upstream "reviews"; defined: local-app, catalog, catalog-v2',
    'contract.yaml:85:37: routes[2].scatterGather.targets[2].upstream: unknown upstream "search-shards"; defined: local-app, catalog, catalog-v2',
    'contract.yaml:88:7: routes[2].scatterGather.concat: is only used with aggregate: concat (this route aggregates by group)',
  ]);
});

t.test('built-in defaults fill every omitted key', async (t) => {
  const policy = policyOf(loadYaml(minimal));
  t.same(policy.admin.address, { host: '127.0.0.1', port: 9901 });
  t.equal(policy.drainTimeoutMs, 20_000);
  t.equal(policy.replayBodyLimitBytes, 1_048_576);
  t.equal(policy.accessLog, 'stdout');
  t.same(policy.upstreams.get('app'), {
    name: 'app',
    endpoints: [{ origin: 'http://127.0.0.1:8080', host: '127.0.0.1', port: 8080 }],
    balance: 'round-robin',
    connections: 128,
    connectTimeoutMs: 1000,
    idleTimeoutMs: 4000,
    maxResponseHeaderBytes: 65536,
    protocol: 'http1',
    outlier: undefined,
  });
  t.same(policy.routes[0], {
    name: 'all',
    index: 0,
    listener: undefined,
    match: { host: undefined, path: undefined, pathPrefix: undefined, pathRegex: undefined, methods: undefined, headers: undefined },
    upstream: 'app',
    timeoutMs: 15_000,
    idleTimeoutMs: 300_000,
    retry: undefined,
    hedge: undefined,
    circuitBreaker: undefined,
    bulkhead: undefined,
    shadow: undefined,
    scatterGather: undefined,
  });
});

t.test('each policy block, when present but empty, gets the documented defaults', async (t) => {
  const doc = withValue(
    withValue(withValue(baseDocument(), ['routes', 0, 'hedge'], { delay: '40ms' }), ['upstreams', 'catalog', 'outlier'], {}),
    ['routes', 0, 'retry'],
    {},
  );
  const policy = policyOf(loadDocument(doc));
  const reads = route(policy, 'reads');
  t.same(reads.retry, {
    attempts: 2,
    perTryTimeoutMs: undefined,
    on: ['connect-failure', 'reset', 502, 503, 504],
    backoff: { baseMs: 25, maxMs: 250 },
    budget: { ratio: 0.2, minPerSecond: 10 },
    methods: IDEMPOTENT,
  });
  t.same(reads.hedge, { delay: { kind: 'fixed', ms: 40 }, minDelayMs: 2, maxAttempts: 2, budget: { ratio: 0.05 }, methods: IDEMPOTENT });
  t.same(reads.circuitBreaker, {
    failureRatio: 0.5,
    minRequests: 20,
    windowMs: 10_000,
    slowCallMs: undefined,
    openForMs: 5000,
    halfOpenRequests: 3,
    failOn: ['5xx', 'connect-failure', 'reset', 'timeout'],
  });
  t.same(reads.bulkhead, { maxConcurrent: 64, maxQueued: 128, queueTimeoutMs: 50, partitionBy: undefined });
  t.same(reads.shadow, { upstream: 'catalog-v2', ratio: 1, compare: { ignore: [], noiseRatio: 0 } });
  t.same(policy.upstreams.get('catalog')?.outlier, { consecutiveFailures: 5, ejectForMs: 30_000, maxEjectedRatio: 0.5 });
  const page = route(policy, 'page');
  t.same(page.scatterGather?.require, { kind: 'all' });
  t.equal(page.scatterGather?.aggregate, 'group');
  t.same(page.scatterGather?.targets[0], { name: 'details', upstream: 'catalog', path: undefined, timeoutMs: undefined, allEndpoints: false });
});

t.test('defaults are merged under every route; the route\'s own keys win', async (t) => {
  const policy = policyOf(
    loadYaml(yaml`
      version: 1
      listeners: [{ name: outbound, address: 127.0.0.1:15001 }]
      upstreams:
        a: { endpoints: [http://10.0.0.1] }
        b: { endpoints: [http://10.0.0.2] }
      defaults:
        upstream: a
        timeout: 3s
        retry:
          attempts: 3
          on: [503, reset]
          backoff: { base: 10ms, max: 100ms }
        bulkhead: { maxConcurrent: 10 }
      routes:
        - name: inherits
        - name: overrides
          upstream: b
          timeout: 0s
          retry:
            perTryTimeout: 200ms
            on: [connect-failure]
            backoff: { max: 50ms }
          bulkhead: { maxQueued: 0 }
    `),
  );
  const inherits = route(policy, 'inherits');
  t.equal(inherits.upstream, 'a');
  t.equal(inherits.timeoutMs, 3000);
  t.same(inherits.retry?.on, [503, 'reset']);
  t.equal(inherits.retry?.attempts, 3);
  t.same(inherits.bulkhead, { maxConcurrent: 10, maxQueued: 128, queueTimeoutMs: 50, partitionBy: undefined });

  const overrides = route(policy, 'overrides');
  t.equal(overrides.upstream, 'b');
  t.equal(overrides.timeoutMs, 0, 'timeout: 0s means no deadline');
  t.equal(overrides.retry?.attempts, 3, 'kept from defaults (deep merge)');
  t.equal(overrides.retry?.perTryTimeoutMs, 200);
  t.same(overrides.retry?.on, ['connect-failure'], 'lists replace, not concatenate');
  t.same(overrides.retry?.backoff, { baseMs: 10, maxMs: 50 }, 'nested blocks merge key by key');
  t.same(overrides.bulkhead, { maxConcurrent: 10, maxQueued: 0, queueTimeoutMs: 50, partitionBy: undefined });
});

t.test('a scatterGather route ignores upstream, retry and hedge from defaults but keeps the rest', async (t) => {
  const policy = policyOf(
    loadYaml(yaml`
      version: 1
      listeners: [{ name: outbound, address: 127.0.0.1:15001 }]
      upstreams: { a: { endpoints: [http://10.0.0.1] } }
      defaults:
        upstream: a
        timeout: 4s
        retry: { attempts: 3 }
        hedge: { delay: p99 }
        circuitBreaker: { minRequests: 5 }
      routes:
        - name: fan-out
          scatterGather: { targets: [{ name: one, upstream: a }] }
    `),
  );
  const fanOut = route(policy, 'fan-out');
  t.equal(fanOut.upstream, undefined);
  t.equal(fanOut.retry, undefined);
  t.equal(fanOut.hedge, undefined);
  t.equal(fanOut.timeoutMs, 4000);
  t.equal(fanOut.circuitBreaker?.minRequests, 5);
});

t.test('anchors and merge keys: a retry block written once and reused', async (t) => {
  const policy = policyOf(
    loadYaml(yaml`
      version: 1
      listeners: [{ name: outbound, address: 127.0.0.1:15001 }]
      upstreams:
        a: { endpoints: [http://10.0.0.1] }
        b: { endpoints: [http://10.0.0.2] }
      routes:
        - name: first
          upstream: a
          retry: &standard-retry
            attempts: 4
            perTryTimeout: 250ms
            on: [gateway-error, connect-failure]
        - name: second
          upstream: b
          retry:
            <<: *standard-retry
            attempts: 2
        - name: third
          upstream: b
          retry: *standard-retry
          bulkhead: &small { maxConcurrent: 2 }
        - name: fourth
          upstream: a
          bulkhead: { <<: [*small], maxQueued: 1 }
    `),
  );
  t.same(route(policy, 'first').retry?.on, ['gateway-error', 'connect-failure']);
  t.equal(route(policy, 'second').retry?.attempts, 2, 'the route\'s key wins over the merged one');
  t.equal(route(policy, 'second').retry?.perTryTimeoutMs, 250);
  t.same(route(policy, 'third').retry, route(policy, 'first').retry);
  t.same(route(policy, 'fourth').bulkhead, { maxConcurrent: 2, maxQueued: 1, queueTimeoutMs: 50, partitionBy: undefined });
  t.same((policy.source as { routes: { retry?: unknown }[] }).routes[1]?.retry, {
    attempts: 2,
    perTryTimeout: '250ms',
    on: ['gateway-error', 'connect-failure'],
  }, 'policy.source is the document with merges resolved');
});

t.test('conversions: addresses, endpoints, match, hedge delays, partitions, quorum', async (t) => {
  const policy = policyOf(
    loadYaml(yaml`
      version: 1
      admin: { address: "[::1]:9902" }
      drainTimeout: 1.5s
      replayBodyLimit: 64KiB
      accessLog: off
      listeners:
        - { name: v6, address: "[::]:15001" }
        - { name: named, address: localhost:15002 }
      upstreams:
        a: { endpoints: [http://Catalog.Default.svc, "http://[::1]:8080/"] }
      routes:
        - name: regex
          upstream: a
          match:
            host: Catalog
            pathRegex: ^/items/[0-9]+$
            methods: [get, Post]
            headers: { X-Canary: "1", x-tenant: acme }
          hedge: { delay: p99.9, minDelay: 0ms }
          bulkhead: { partitionBy: header:X-Tenant-Id }
        - name: fixed-hedge
          upstream: a
          match: { path: /exact }
          hedge: { delay: 1.5s }
          bulkhead: { partitionBy: client }
        - name: v6-host
          match: { host: "[::1]" }
          scatterGather:
            targets: [{ name: x, upstream: a, timeout: 0s }, { name: y, upstream: a, timeout: 100ms }]
            require: 1
        - name: any
          scatterGather: { targets: [{ name: x, upstream: a }], require: any, aggregate: concat, concat: { field: hits, sortBy: score, order: asc, limit: 5 } }
    `),
  );
  t.same(policy.admin.address, { host: '::1', port: 9902 });
  t.equal(policy.drainTimeoutMs, 1500);
  t.equal(policy.replayBodyLimitBytes, 65_536);
  t.equal(policy.accessLog, 'off');
  t.same(policy.listeners.map((l) => l.address), [
    { host: '::', port: 15001 },
    { host: 'localhost', port: 15002 },
  ]);
  t.same(policy.upstreams.get('a')?.endpoints, [
    { origin: 'http://catalog.default.svc', host: 'catalog.default.svc', port: 80 },
    { origin: 'http://[::1]:8080', host: '::1', port: 8080 },
  ]);

  const regex = route(policy, 'regex');
  t.equal(regex.match.host, 'catalog');
  t.ok(regex.match.pathRegex instanceof RegExp);
  t.ok(regex.match.pathRegex?.test('/items/42'));
  t.notOk(regex.match.pathRegex?.test('/items/42/x'));
  t.same(regex.match.methods, ['GET', 'POST']);
  t.same([...(regex.match.headers ?? [])], [
    ['x-canary', '1'],
    ['x-tenant', 'acme'],
  ]);
  t.same(regex.hedge?.delay, { kind: 'percentile', percentile: 99.9 });
  t.equal(regex.hedge?.minDelayMs, 0);
  t.same(regex.bulkhead?.partitionBy, { kind: 'header', header: 'x-tenant-id' });

  const fixed = route(policy, 'fixed-hedge');
  t.same(fixed.hedge?.delay, { kind: 'fixed', ms: 1500 });
  t.same(fixed.bulkhead?.partitionBy, { kind: 'client' });
  t.equal(fixed.match.path, '/exact');

  const v6 = route(policy, 'v6-host');
  t.equal(v6.match.host, '::1', 'brackets dropped, as the router compares hosts');
  t.same(v6.scatterGather?.require, { kind: 'quorum', count: 1 });
  t.same(v6.scatterGather?.targets.map((x) => x.timeoutMs), [undefined, 100], 'a 0s target timeout means none');

  const any = route(policy, 'any');
  t.same(any.scatterGather?.require, { kind: 'any' });
  t.same(any.scatterGather?.concat, { field: 'hits', sortBy: 'score', order: 'asc', limit: 5 });
});

t.test('retry and circuit breaker options that turn a deadline off', async (t) => {
  const doc = withValue(withValue(baseDocument(), ['routes', 0, 'retry', 'perTryTimeout'], '0s'), ['routes', 0, 'circuitBreaker', 'slowCall'], '0s');
  const reads = route(policyOf(loadDocument(doc)), 'reads');
  t.equal(reads.retry?.perTryTimeoutMs, undefined, 'perTryTimeout: 0s means no per-try deadline');
  t.equal(reads.circuitBreaker?.slowCallMs, undefined, 'slowCall: 0s means off');
});

t.test('the policy is deeply frozen', async (t) => {
  const doc = withValue(baseDocument(), ['routes', 0, 'match'], { pathRegex: '^/items', headers: { 'x-a': 'b' } });
  const policy = policyOf(loadDocument(doc));
  t.ok(Object.isFrozen(policy));
  t.ok(Object.isFrozen(policy.routes));
  t.ok(Object.isFrozen(policy.routes[0]?.retry?.on));
  t.ok(Object.isFrozen(policy.routes[0]?.match.pathRegex), 'the RegExp too (it has no g flag, so test() never writes lastIndex)');
  t.ok(policy.routes[0]?.match.pathRegex?.test('/items/1'), 'a frozen RegExp still tests');
  t.throws(() => (policy.routes[0]?.match.headers as Map<string, string>).set('x-b', 'c'), TypeError);
  t.ok(Object.isFrozen(policy.upstreams.get('catalog')?.endpoints[0]));
  t.ok(Object.isFrozen(policy.source));
  t.throws(() => (policy.upstreams as Map<string, unknown>).set('x', {}), TypeError);
  t.throws(() => (policy.upstreams as Map<string, unknown>).delete('catalog'), TypeError);
  t.throws(() => (policy.upstreams as Map<string, unknown>).clear(), TypeError);
  t.ok(policy.upstreams instanceof Map, 'still a Map for iteration and copying');
  t.equal(new Map(policy.upstreams).size, 3);
  t.throws(() => {
    (policy.routes as RoutePolicy[]).push(policy.routes[0] as RoutePolicy);
  }, TypeError);
});

t.test('loadPolicyFile reads a file; a read error is one issue at 1:1', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'outrider-config-'));
  const file = join(dir, 'policy.yaml');
  writeFileSync(file, minimal);
  t.ok((await loadPolicyFile(file)).ok);

  const missing = join(dir, 'missing.yaml');
  const result = await loadPolicyFile(missing);
  t.notOk(result.ok);
  t.match(report(result), [new RegExp(`^${missing.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}:1:1: cannot read the policy file: ENOENT`)]);
});
