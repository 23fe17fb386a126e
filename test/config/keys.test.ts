/**
 * Every key of the policy, one by one: values that must load, and a wrong value with the exact
 * message it must produce. The document is otherwise valid (fixtures/policy.ts), so each case
 * yields exactly one issue.
 */
import t from 'tap';
import { baseDocument, loadDocument, messages, withValue } from './fixtures/policy.js';

type Path = (string | number)[];

interface KeyCase {
  readonly path: Path;
  readonly valid: readonly unknown[];
  readonly invalid: readonly (readonly [value: unknown, message: string])[];
}

const DURATION = 'must be a duration such as 250ms, 2s or 1m';
const POSITIVE = 'must be a duration greater than 0, such as 250ms, 2s or 1m';
const NAME = 'must be a name made of letters, digits, ".", "_" and "-", such as catalog-reads';
const ADDRESS = 'must be host:port, such as 127.0.0.1:15001 or [::1]:15001';
const R = ['routes', 0];
const S = ['routes', 1, 'scatterGather'];

const cases: KeyCase[] = [
  // ---- top level
  { path: ['version'], valid: [1], invalid: [[2, 'version: must be 1 (the only policy version this sidecar understands)'], ['1', 'version: must be 1 (the only policy version this sidecar understands)']] },
  { path: ['admin', 'address'], valid: ['127.0.0.1:9901', '0.0.0.0:9901', '[::1]:9901', 'localhost:0'], invalid: [['9901', `admin.address: ${ADDRESS}`], ['::1:9901', `admin.address: ${ADDRESS}`], ['127.0.0.1:99999', 'admin.address: port 99999 is out of range (0-65535)']] },
  { path: ['drainTimeout'], valid: ['0s', '20s', '1.5s', '250ms', '1m', '1h'], invalid: [['20', `drainTimeout: ${DURATION}`], [20, `drainTimeout: ${DURATION} (add a unit: "20s" or "20ms")`], ['20 s', `drainTimeout: ${DURATION}`]] },
  { path: ['replayBodyLimit'], valid: ['0B', '512B', '64KiB', '1MiB', '1GiB'], invalid: [['1MB', 'replayBodyLimit: must be a size such as 512B, 64KiB or 1MiB'], [1048576, 'replayBodyLimit: must be a size such as 512B, 64KiB or 1MiB']] },
  { path: ['accessLog'], valid: ['stdout', 'off'], invalid: [['stdot', 'accessLog: must be one of stdout or off (did you mean "stdout"?)'], [false, 'accessLog: must be one of stdout or off']] },
  { path: ['listeners'], valid: [], invalid: [[[], 'listeners: must not be empty'], [{}, 'listeners: must be a list']] },
  { path: ['listeners', 0, 'name'], valid: ['in-bound_1.x'], invalid: [['has space', `listeners[0].name: ${NAME}`], [undefined, 'listeners[0]: missing required key "name"']] },
  { path: ['listeners', 0, 'address'], valid: ['[::]:15001'], invalid: [[':15001', `listeners[0].address: ${ADDRESS}`], [undefined, 'listeners[0]: missing required key "address"']] },
  { path: ['upstreams'], valid: [], invalid: [[[], 'upstreams: must be a mapping (key: value)']] },
  { path: ['listeners', 0, 'protocols'], valid: [['http1'], ['http1', 'h2c'], ['h2c']], invalid: [[['spdy'], 'listeners[0].protocols[0]: must be one of http1 or h2c'], [[], 'listeners[0].protocols: must not be empty']] },
  { path: ['listeners', 0, 'unrouted'], valid: ['reject', 'passthrough'], invalid: [['forward', 'listeners[0].unrouted: must be one of reject or passthrough'], [true, 'listeners[0].unrouted: must be one of reject or passthrough']] },
  { path: ['listeners', 0, 'connect'], valid: [{ allow: ['*:443', 'api.example.com:*', '10.0.0.1:8443'] }, { allow: [] }], invalid: [[{ allow: ['443'] }, 'listeners[0].connect.allow[0]: must be host:port, with * for any host or any port, such as *:443 or api.example.com:*']] },
  { path: ['upstreams', 'catalog', 'protocol'], valid: ['http1', 'h2c', 'auto'], invalid: [['h2', 'upstreams.catalog.endpoints[0]: h2 is HTTP/2 over TLS: use https:// endpoints, or protocol h2c for HTTP/2 without TLS'], ['spdy', 'upstreams.catalog.protocol: must be one of http1, h2c, h2 or auto']] },
  // ---- upstreams
  { path: ['upstreams', 'catalog', 'endpoints'], valid: [['http://catalog'], ['http://[::1]:8080'], ['http://10.0.0.1:8080/', 'http://10.0.0.2:8080'], ['https://10.0.0.1'], ['https://payments.internal:8443']], invalid: [
    [[], 'upstreams.catalog.endpoints: must not be empty'],
    [['ftp://10.0.0.1'], 'upstreams.catalog.endpoints[0]: must be an http:// or https:// URL without a path, such as http://10.0.0.11:8080'],
    [['http://10.0.0.1/base'], 'upstreams.catalog.endpoints[0]: must be an http:// or https:// URL without a path, such as http://10.0.0.11:8080'],
    [['10.0.0.1:8080'], 'upstreams.catalog.endpoints[0]: must be an http:// or https:// URL without a path, such as http://10.0.0.11:8080'],
    [['http://a:0'], 'upstreams.catalog.endpoints[0]: port 0 is out of range (1-65535)'],
    [['http://a', 'http://a'], 'upstreams.catalog.endpoints: lists "http://a" more than once'],
  ] },
  { path: ['upstreams', 'catalog', 'balance'], valid: ['round-robin', 'least-request', 'random'], invalid: [['least-requests', 'upstreams.catalog.balance: must be one of round-robin, least-request or random (did you mean "least-request"?)']] },
  { path: ['upstreams', 'catalog', 'connections'], valid: [1, 1000], invalid: [[0, 'upstreams.catalog.connections: must be >= 1'], [1.5, 'upstreams.catalog.connections: must be a whole number']] },
  { path: ['upstreams', 'catalog', 'connectTimeout'], valid: ['250ms', '5s'], invalid: [['0s', `upstreams.catalog.connectTimeout: ${POSITIVE}`]] },
  { path: ['upstreams', 'catalog', 'idleTimeout'], valid: ['500ms', '4s', '1m'], invalid: [['0s', `upstreams.catalog.idleTimeout: ${POSITIVE}`], [4, `upstreams.catalog.idleTimeout: ${POSITIVE} (add a unit: "4s" or "4ms")`]] },
  { path: ['upstreams', 'catalog', 'maxResponseHeaderSize'], valid: ['16KiB', '64KiB', '1MiB'], invalid: [['64KB', 'upstreams.catalog.maxResponseHeaderSize: must be a size such as 512B, 64KiB or 1MiB']] },
  { path: ['upstreams', 'catalog', 'outlier', 'consecutiveFailures'], valid: [1, 10], invalid: [[0, 'upstreams.catalog.outlier.consecutiveFailures: must be >= 1']] },
  { path: ['upstreams', 'catalog', 'outlier', 'ejectFor'], valid: ['30s', '100ms'], invalid: [['0ms', `upstreams.catalog.outlier.ejectFor: ${POSITIVE}`]] },
  { path: ['upstreams', 'catalog', 'outlier', 'maxEjectedPercent'], valid: [0, 50, 100, 12.5], invalid: [[101, 'upstreams.catalog.outlier.maxEjectedPercent: must be <= 100'], [-1, 'upstreams.catalog.outlier.maxEjectedPercent: must be >= 0']] },
  // ---- routes
  { path: ['routes'], valid: [], invalid: [[[], 'routes: must not be empty']] },
  { path: [...R, 'name'], valid: ['catalog-reads'], invalid: [['', `routes[0].name: ${NAME}`], [undefined, 'routes[0]: missing required key "name"']] },
  { path: [...R, 'listener'], valid: ['outbound', undefined], invalid: [['outbond', 'routes[0].listener: unknown listener "outbond" (did you mean "outbound"?); defined: outbound'], ['', 'routes[0].listener: must not be empty']] },
  { path: [...R, 'upstream'], valid: ['catalog-v2'], invalid: [['catalgo', 'routes[0].upstream: unknown upstream "catalgo" (did you mean "catalog"?); defined: catalog, catalog-v2, search'], [undefined, 'routes[0]: missing "upstream" (every route needs one, given here or in defaults, unless it has scatterGather)']] },
  { path: [...R, 'timeout'], valid: ['0s', '2s', '100ms'], invalid: [['2', `routes[0].timeout: ${DURATION}`]] },
  { path: [...R, 'idleTimeout'], valid: ['0s', '30s', '5m'], invalid: [['5 m', `routes[0].idleTimeout: ${DURATION}`]] },
  { path: [...R, 'match'], valid: [{}, undefined], invalid: [['/', 'routes[0].match: must be a mapping (key: value)']] },
  { path: [...R, 'match', 'host'], valid: ['catalog', 'Catalog.default.svc', '10.0.0.1', '[::1]'], invalid: [['catalog:8080', 'routes[0].match.host: must be a host name without a port, such as catalog']] },
  { path: [...R, 'match'], valid: [{ path: '/exact' }, { pathPrefix: '/' }, { pathRegex: '^/items/[0-9]+$' }], invalid: [
    [{ path: 'exact' }, 'routes[0].match.path: must start with /'],
    [{ pathPrefix: 'items' }, 'routes[0].match.pathPrefix: must start with /'],
    [{ pathRegex: '(' }, 'routes[0].match.pathRegex: is not a valid regular expression: /(/: Unterminated group'],
    [{ pathRegex: '' }, 'routes[0].match.pathRegex: must not be empty'],
    [{ path: '/a', pathPrefix: '/b' }, 'routes[0].match: give at most one of path, pathPrefix and pathRegex (found path and pathPrefix)'],
  ] },
  { path: [...R, 'match', 'methods'], valid: [['GET'], ['get', 'PoSt', 'PURGE']], invalid: [[[], 'routes[0].match.methods: must not be empty'], [['G E T'], 'routes[0].match.methods[0]: must be an HTTP method such as GET'], [['GET', 'GET'], 'routes[0].match.methods: lists "GET" more than once']] },
  { path: [...R, 'match', 'headers'], valid: [{ 'x-canary': '1' }, { 'X-Tenant': 'acme', 'x-b': '' }], invalid: [
    [{ 'x canary': '1' }, 'routes[0].match.headers: key "x canary" must be a valid HTTP header name, such as x-tenant-id'],
    [{ 'x-canary': 1 }, 'routes[0].match.headers.x-canary: must be a string (quote it: "1")'],
    [{ 'x-canary': true }, 'routes[0].match.headers.x-canary: must be a string (quote it: "true")'],
  ] },
  // ---- retry
  { path: [...R, 'retry', 'attempts'], valid: [1, 5], invalid: [[0, 'routes[0].retry.attempts: must be >= 1'], ['3', 'routes[0].retry.attempts: must be a whole number']] },
  { path: [...R, 'retry', 'perTryTimeout'], valid: ['300ms', '0s'], invalid: [['fast', `routes[0].retry.perTryTimeout: ${DURATION}`]] },
  { path: [...R, 'retry', 'on'], valid: [['5xx', 'gateway-error', 'connect-failure', 'reset', 'timeout', 429, 503], ['grpc:unavailable', 'grpc:deadline-exceeded', 'grpc:resource-exhausted']], invalid: [
    [['5xy'], 'routes[0].retry.on[0]: must be one of connect-failure, reset, timeout, 5xx or gateway-error, a gRPC status such as grpc:unavailable, or an HTTP status code such as 503 (did you mean "5xx"?)'],
    [[99], 'routes[0].retry.on[0]: must be one of connect-failure, reset, timeout, 5xx or gateway-error, a gRPC status such as grpc:unavailable, or an HTTP status code such as 503'],
    [['503'], 'routes[0].retry.on[0]: must be one of connect-failure, reset, timeout, 5xx or gateway-error, a gRPC status such as grpc:unavailable, or an HTTP status code such as 503 (write the status code without quotes: 503)'],
    [[], 'routes[0].retry.on: must not be empty'],
    [[503, 503], 'routes[0].retry.on: lists 503 more than once'],
  ] },
  { path: [...R, 'retry', 'backoff', 'base'], valid: ['0ms', '10ms', '250ms'], invalid: [['x', `routes[0].retry.backoff.base: ${DURATION}`], ['1s', 'routes[0].retry.backoff: max (250ms) must not be below base (1s)']] },
  { path: [...R, 'retry', 'backoff', 'max'], valid: ['25ms', '1s'], invalid: [['10ms', 'routes[0].retry.backoff: max (10ms) must not be below base (25ms)']] },
  { path: [...R, 'retry', 'budget', 'ratio'], valid: [0, 0.2, 1], invalid: [[1.5, 'routes[0].retry.budget.ratio: must be <= 1'], [-0.1, 'routes[0].retry.budget.ratio: must be >= 0']] },
  { path: [...R, 'retry', 'budget', 'minPerSecond'], valid: [0, 10, 2.5], invalid: [[-1, 'routes[0].retry.budget.minPerSecond: must be >= 0']] },
  { path: [...R, 'retry', 'methods'], valid: [['GET', 'POST']], invalid: [[[], 'routes[0].retry.methods: must not be empty'], ['GET', 'routes[0].retry.methods: must be a list']] },
  // ---- hedge
  { path: [...R, 'hedge', 'delay'], valid: ['p50', 'p95', 'p99', 'p99.9', '40ms', '0ms', '1s'], invalid: [
    ['p100', 'routes[0].hedge.delay: must be a latency percentile such as p95 or p99.9, or a duration such as 40ms'],
    ['95', 'routes[0].hedge.delay: must be a latency percentile such as p95 or p99.9, or a duration such as 40ms'],
    [undefined, 'routes[0].hedge: missing required key "delay"'],
  ] },
  { path: [...R, 'hedge', 'minDelay'], valid: ['0ms', '5ms'], invalid: [['5', `routes[0].hedge.minDelay: ${DURATION}`]] },
  { path: [...R, 'hedge', 'maxAttempts'], valid: [1, 3], invalid: [[0, 'routes[0].hedge.maxAttempts: must be >= 1']] },
  { path: [...R, 'hedge', 'budget', 'ratio'], valid: [0.05, 0, 1], invalid: [[2, 'routes[0].hedge.budget.ratio: must be <= 1']] },
  { path: [...R, 'hedge', 'methods'], valid: [['GET', 'POST']], invalid: [[[1], 'routes[0].hedge.methods[0]: must be an HTTP method such as GET']] },
  // ---- circuitBreaker
  { path: [...R, 'circuitBreaker', 'failureRatio'], valid: [0.01, 0.5, 1], invalid: [[0, 'routes[0].circuitBreaker.failureRatio: must be > 0'], [1.1, 'routes[0].circuitBreaker.failureRatio: must be <= 1']] },
  { path: [...R, 'circuitBreaker', 'minRequests'], valid: [1, 100], invalid: [[0, 'routes[0].circuitBreaker.minRequests: must be >= 1']] },
  { path: [...R, 'circuitBreaker', 'window'], valid: ['10s', '500ms'], invalid: [['0s', `routes[0].circuitBreaker.window: ${POSITIVE}`]] },
  { path: [...R, 'circuitBreaker', 'slowCall'], valid: ['1s', '0s'], invalid: [['slow', `routes[0].circuitBreaker.slowCall: ${DURATION}`]] },
  { path: [...R, 'circuitBreaker', 'openFor'], valid: ['5s'], invalid: [['0s', `routes[0].circuitBreaker.openFor: ${POSITIVE}`]] },
  { path: [...R, 'circuitBreaker', 'halfOpenRequests'], valid: [1, 3], invalid: [[0, 'routes[0].circuitBreaker.halfOpenRequests: must be >= 1']] },
  { path: [...R, 'circuitBreaker', 'failOn'], valid: [['5xx'], ['5xx', 'connect-failure', 'reset', 'timeout'], ['grpc:unavailable', 'grpc:internal']], invalid: [[['4xx'], 'routes[0].circuitBreaker.failOn[0]: must be one of 5xx, connect-failure, reset or timeout, or a gRPC status such as grpc:unavailable (did you mean "5xx"?)'], [[503], 'routes[0].circuitBreaker.failOn[0]: must be one of 5xx, connect-failure, reset or timeout, or a gRPC status such as grpc:unavailable']] },
  // ---- bulkhead
  { path: [...R, 'bulkhead', 'maxConcurrent'], valid: [1, 64], invalid: [[0, 'routes[0].bulkhead.maxConcurrent: must be >= 1']] },
  { path: [...R, 'bulkhead', 'maxQueued'], valid: [0, 128], invalid: [[-1, 'routes[0].bulkhead.maxQueued: must be >= 0']] },
  { path: [...R, 'bulkhead', 'queueTimeout'], valid: ['0ms', '50ms'], invalid: [['50', `routes[0].bulkhead.queueTimeout: ${DURATION}`]] },
  { path: [...R, 'bulkhead', 'partitionBy'], valid: ['header:x-tenant-id', 'client'], invalid: [['tenant', 'routes[0].bulkhead.partitionBy: must be header:NAME (such as header:x-tenant-id) or client'], ['header:', 'routes[0].bulkhead.partitionBy: must be header:NAME (such as header:x-tenant-id) or client']] },
  // ---- shadow
  { path: [...R, 'shadow', 'upstream'], valid: ['search'], invalid: [['nope', 'routes[0].shadow.upstream: unknown upstream "nope"; defined: catalog, catalog-v2, search'], [undefined, 'routes[0].shadow: missing required key "upstream"']] },
  { path: [...R, 'shadow', 'percent'], valid: [0, 10, 100, 0.5], invalid: [[101, 'routes[0].shadow.percent: must be <= 100']] },
  { path: [...R, 'shadow', 'compare'], valid: [{}, undefined], invalid: [[true, 'routes[0].shadow.compare: must be a mapping (key: value)']] },
  { path: [...R, 'shadow', 'compare', 'ignore'], valid: [[], ['headers.date', 'body.requestId']], invalid: [[[''], 'routes[0].shadow.compare.ignore[0]: must not be empty']] },
  // ---- scatterGather
  { path: [...S, 'targets'], valid: [[{ name: 'one', upstream: 'search' }]], invalid: [[[], 'routes[1].scatterGather.targets: must not be empty'], [undefined, 'routes[1].scatterGather: missing required key "targets"']] },
  { path: [...S, 'targets', 0, 'name'], valid: ['a.b'], invalid: [['search', 'routes[1].scatterGather.targets[1].name: duplicate target name "search" (first used by routes[1].scatterGather.targets[0])'], ['a b', `routes[1].scatterGather.targets[0].name: ${NAME}`]] },
  { path: [...S, 'targets', 0, 'upstream'], valid: ['catalog-v2'], invalid: [['serch', 'routes[1].scatterGather.targets[0].upstream: unknown upstream "serch" (did you mean "search"?); defined: catalog, catalog-v2, search'], [undefined, 'routes[1].scatterGather.targets[0]: missing required key "upstream"']] },
  { path: [...S, 'targets', 0, 'path'], valid: ['/details/{suffix}', '/v1{path}?{query}', '/static'], invalid: [['details', 'routes[1].scatterGather.targets[0].path: must start with /'], ['/d/{sufix}', 'routes[1].scatterGather.targets[0].path: unknown placeholder {sufix} (did you mean "suffix"?); use {path}, {suffix} or {query}']] },
  { path: [...S, 'targets', 0, 'timeout'], valid: ['300ms', '0s'], invalid: [['short', `routes[1].scatterGather.targets[0].timeout: ${DURATION}`]] },
  { path: [...S, 'targets', 0, 'allEndpoints'], valid: [true, false], invalid: [['yes', 'routes[1].scatterGather.targets[0].allEndpoints: must be true or false']] },
  { path: [...S, 'require'], valid: ['all', 'any', 1, 2], invalid: [
    [3, 'routes[1].scatterGather.require: must be at most 2, the number of targets'],
    [0, 'routes[1].scatterGather.require: must be all, any or a number of targets (at least 1)'],
    ['most', 'routes[1].scatterGather.require: must be all, any or a number of targets (at least 1)'],
    ['al', 'routes[1].scatterGather.require: must be all, any or a number of targets (at least 1) (did you mean "all"?)'],
  ] },
  { path: [...S, 'aggregate'], valid: ['group', 'merge'], invalid: [['concat', 'routes[1].scatterGather: aggregate: concat needs a concat block naming the field to join, e.g. concat: { field: hits }'], ['join', 'routes[1].scatterGather.aggregate: must be one of group, merge or concat']] },
  { path: [...S, 'concat'], valid: [undefined], invalid: [[{ field: 'hits' }, 'routes[1].scatterGather.concat: is only used with aggregate: concat (this route aggregates by group, the default)']] },
  // ---- defaults
  { path: ['defaults', 'upstream'], valid: ['catalog'], invalid: [['nope', 'defaults.upstream: unknown upstream "nope"; defined: catalog, catalog-v2, search']] },
  { path: ['defaults', 'timeout'], valid: ['1s', '0s'], invalid: [['1', `defaults.timeout: ${DURATION}`]] },
  { path: ['defaults', 'retry'], valid: [{ attempts: 3 }, {}], invalid: [[{ attempts: 0 }, 'defaults.retry.attempts: must be >= 1']] },
  { path: ['defaults', 'hedge'], valid: [{ delay: 'p99' }], invalid: [[{ maxAttempts: 0, delay: 'p99' }, 'defaults.hedge.maxAttempts: must be >= 1']] },
  { path: ['defaults', 'circuitBreaker'], valid: [{ minRequests: 5 }], invalid: [[{ failOn: [] }, 'defaults.circuitBreaker.failOn: must not be empty']] },
  { path: ['defaults', 'bulkhead'], valid: [{ maxConcurrent: 5 }], invalid: [[{ maxConcurrent: 0 }, 'defaults.bulkhead.maxConcurrent: must be >= 1']] },
  { path: ['defaults', 'shadow'], valid: [{ upstream: 'search', percent: 1 }], invalid: [[{ percent: 1 }, 'defaults.shadow: missing required key "upstream" (routes without a shadow block of their own inherit this one)']] },
  { path: ['defaults', 'listener'], valid: [], invalid: [['outbound', 'defaults: unknown key "listener"']] },
];

for (const { path, valid, invalid } of cases) {
  const name = path.join('.');
  t.test(name, async (t) => {
    for (const value of valid) {
      t.same(messages(loadDocument(withValue(baseDocument(), path, value))), [], `accepts ${JSON.stringify(value)}`);
    }
    for (const [value, message] of invalid) {
      t.same(messages(loadDocument(withValue(baseDocument(), path, value))), [message], `rejects ${JSON.stringify(value)}`);
    }
  });
}

t.test('unknown keys are rejected at every level, with a hint when one is close', async (t) => {
  const unknown: [Path, string, string][] = [
    [[], 'listner', 'unknown key "listner" (did you mean "listeners"?)'],
    [['admin'], 'adress', 'admin: unknown key "adress" (did you mean "address"?)'],
    [['listeners', 0], 'port', 'listeners[0]: unknown key "port"'],
    [['upstreams', 'catalog'], 'conections', 'upstreams.catalog: unknown key "conections" (did you mean "connections"?)'],
    [['upstreams', 'catalog', 'outlier'], 'ejectFr', 'upstreams.catalog.outlier: unknown key "ejectFr" (did you mean "ejectFor"?)'],
    [['defaults'], 'timout', 'defaults: unknown key "timout" (did you mean "timeout"?)'],
    [R, 'circuitbreaker', 'routes[0]: unknown key "circuitbreaker" (did you mean "circuitBreaker"?)'],
    [[...R, 'match'], 'prefix', 'routes[0].match: unknown key "prefix"'],
    [[...R, 'retry'], 'perTryTimout', 'routes[0].retry: unknown key "perTryTimout" (did you mean "perTryTimeout"?)'],
    [[...R, 'retry', 'backoff'], 'jitter', 'routes[0].retry.backoff: unknown key "jitter"'],
    [[...R, 'retry', 'budget'], 'ration', 'routes[0].retry.budget: unknown key "ration" (did you mean "ratio"?)'],
    [[...R, 'hedge'], 'dealy', 'routes[0].hedge: unknown key "dealy" (did you mean "delay"?)'],
    [[...R, 'hedge', 'budget'], 'minPerSecond', 'routes[0].hedge.budget: unknown key "minPerSecond"'],
    [[...R, 'circuitBreaker'], 'slowCalls', 'routes[0].circuitBreaker: unknown key "slowCalls" (did you mean "slowCall"?)'],
    [[...R, 'bulkhead'], 'maxConcurent', 'routes[0].bulkhead: unknown key "maxConcurent" (did you mean "maxConcurrent"?)'],
    [[...R, 'shadow'], 'percentage', 'routes[0].shadow: unknown key "percentage" (did you mean "percent"?)'],
    [[...R, 'shadow', 'compare'], 'ignored', 'routes[0].shadow.compare: unknown key "ignored" (did you mean "ignore"?)'],
    [S, 'agregate', 'routes[1].scatterGather: unknown key "agregate" (did you mean "aggregate"?)'],
    [[...S, 'targets', 0], 'timeuot', 'routes[1].scatterGather.targets[0]: unknown key "timeuot" (did you mean "timeout"?)'],
  ];
  for (const [path, key, message] of unknown) {
    t.same(messages(loadDocument(withValue(baseDocument(), [...path, key], 1))), [message], message);
  }
});

t.test('a scatterGather route takes no upstream, retry or hedge of its own', async (t) => {
  for (const [key, value] of [['upstream', 'search'], ['retry', {}], ['hedge', { delay: 'p95' }]] as const) {
    t.same(messages(loadDocument(withValue(baseDocument(), ['routes', 1, key], value))), [
      `routes[1].${key}: a scatterGather route takes no upstream, retry or hedge`,
    ]);
  }
});

t.test('names and addresses must be unique', async (t) => {
  const twoListeners = (second: Record<string, string>) =>
    withValue(baseDocument(), ['listeners'], [{ name: 'outbound', address: '127.0.0.1:15001' }, second]);
  t.same(messages(loadDocument(twoListeners({ name: 'outbound', address: '127.0.0.1:15002' }))), [
    'listeners[1].name: duplicate listener name "outbound" (first used by listeners[0])',
  ]);
  t.same(messages(loadDocument(twoListeners({ name: 'inbound', address: '127.0.0.1:15001' }))), [
    'listeners[1].address: port 15001 is already taken by listeners[0] (127.0.0.1:15001)',
  ]);
  t.same(messages(loadDocument(twoListeners({ name: 'inbound', address: '0.0.0.0:15001' }))), [
    'listeners[1].address: port 15001 is already taken by listeners[0] (127.0.0.1:15001)',
  ], 'a wildcard address overlaps every host');
  t.same(messages(loadDocument(twoListeners({ name: 'inbound', address: '127.0.0.2:15001' }))), [], 'other host, same port');
  t.same(messages(loadDocument(twoListeners({ name: 'inbound', address: '127.0.0.1:9901' }))), [
    'listeners[1].address: port 9901 is already taken by the admin server (127.0.0.1:9901, the default; set admin.address to move it)',
  ]);
  const portZero = withValue(
    withValue(baseDocument(), ['admin'], { address: '127.0.0.1:0' }),
    ['listeners'],
    [{ name: 'a', address: '127.0.0.1:0' }, { name: 'b', address: '127.0.0.1:0' }],
  );
  t.same(messages(loadDocument(portZero)), [], 'port 0 (any free port) never collides');
  const routes = baseDocument().routes as Record<string, unknown>[];
  t.same(messages(loadDocument(withValue(baseDocument(), ['routes', 2], { ...routes[0] }))), [
    'routes[2].name: duplicate route name "reads" (first used by routes[0])',
  ]);
});

t.test('the path keys exclude each other and pathRegex must compile', async (t) => {
  t.same(messages(loadDocument(withValue(baseDocument(), [...R, 'match'], { pathRegex: '^/items/[0-9+$' }))), [
    'routes[0].match.pathRegex: is not a valid regular expression: /^/items/[0-9+$/: Unterminated character class',
  ]);
  t.same(messages(loadDocument(withValue(baseDocument(), [...R, 'match'], { pathRegex: '^/items/[0-9]+$' }))), []);
  t.same(messages(loadDocument(withValue(baseDocument(), [...R, 'match'], { path: '/a', pathPrefix: '/b', pathRegex: 'c' }))), [
    'routes[0].match: give at most one of path, pathPrefix and pathRegex (found path, pathPrefix and pathRegex)',
  ]);
});
