/**
 * Golden error reports: the exact `file:line:column: message` lines `outrider validate` prints.
 */
import t from 'tap';
import { loadYaml, report, yaml } from './fixtures/policy.js';

const HEAD = yaml`
  version: 1
  listeners:
    - { name: outbound, address: 127.0.0.1:15001 }
  upstreams:
    catalog: { endpoints: [http://10.0.0.11:8080] }
`;

t.test('every problem is reported at once, sorted by position, schema and cross-reference alike', async (t) => {
  const text = yaml`
    version: 1
    listeners:
      - name: outbound
        address: 127.0.0.1:15001
    upstreams:
      catalog:
        endpoints: [http://10.0.0.11:8080]
    routes:
      - name: reads
        upstream: catalog
        retry:
          attempts: 3
      - name: writes
        upstream: catalogue
        retry:
          attempts: 0
          perTryTimout: 300ms
        hedge:
          delay: p95
          maxAttempts: 0
  `;
  t.same(report(loadYaml(text, 'policy.yaml')), [
    'policy.yaml:14:15: routes[1].upstream: unknown upstream "catalogue" (did you mean "catalog"?); defined: catalog',
    'policy.yaml:16:17: routes[1].retry.attempts: must be >= 1',
    'policy.yaml:17:7: routes[1].retry: unknown key "perTryTimout" (did you mean "perTryTimeout"?)',
    'policy.yaml:20:20: routes[1].hedge.maxAttempts: must be >= 1',
  ]);
});

t.test('a block written once with an anchor is reported once, where it is written', async (t) => {
  const text = `${HEAD}${yaml`
    defaults:
      retry: &standard
        attempts: 3
        perTryTimout: 300ms
        on: [5xy]
    routes:
      - name: reads
        upstream: catalog
        retry:
          <<: *standard
          attempts: 2
      - name: writes
        upstream: catalog
        retry: *standard
  `}`;
  t.same(report(loadYaml(text, 'policy.yaml')), [
    'policy.yaml:9:5: defaults.retry: unknown key "perTryTimout" (did you mean "perTryTimeout"?)',
    'policy.yaml:10:10: defaults.retry.on[0]: must be one of connect-failure, reset, timeout, 5xx or gateway-error, a gRPC status such as grpc:unavailable, or an HTTP status code such as 503 (did you mean "5xx"?)',
  ]);
});

t.test('a problem only visible after a merge is reported where the block is used', async (t) => {
  const text = `${HEAD}${yaml`
    routes:
      - name: reads
        upstream: catalog
        retry: &standard
          backoff: { base: 100ms }
      - name: writes
        upstream: catalog
        retry:
          <<: *standard
          attempts: 0
  `}`;
  t.same(report(loadYaml(text, 'policy.yaml')), ['policy.yaml:15:17: routes[1].retry.attempts: must be >= 1']);
  const scatter = `${HEAD}${yaml`
    routes:
      - &base
        name: reads
        upstream: catalog
      - <<: *base
        name: fan-out
        scatterGather: { targets: [{ name: a, upstream: catalog }] }
  `}`;
  t.same(report(loadYaml(scatter, 'policy.yaml')), [
    'policy.yaml:10:5: routes[1].upstream: a scatterGather route takes no upstream, retry or hedge',
  ], 'the merged-in upstream is pointed at where the merge happens');
});

t.test('unknown keys point at the key and suggest the closest one', async (t) => {
  const text = `${HEAD}${yaml`
    routes:
      - name: reads
        upstrem: catalog
        retry: { atempts: 2, perTryTimeout: 1s }
  `}`;
  t.same(report(loadYaml(text, 'p.yaml')), [
    'p.yaml:8:5: routes[0]: unknown key "upstrem" (did you mean "upstream"?)',
    'p.yaml:9:14: routes[0].retry: unknown key "atempts" (did you mean "attempts"?)',
  ], 'and do not also report the key as missing');
});

t.test('YAML syntax errors stop before validation, with their positions', async (t) => {
  t.same(report(loadYaml('version: 1\nlisteners:\n  - name: a\n   address: x\nroutes: [\n', 'bad.yaml')), [
    'bad.yaml:4:1: invalid YAML: Sequence item without - indicator',
    'bad.yaml:6:1: invalid YAML: Flow sequence in block collection must be sufficiently indented and end with a ]',
  ]);
  t.same(report(loadYaml('version: 1\nroutes:\n  - name: r\n    name: s\n', 'dup.yaml')), [
    'dup.yaml:4:5: duplicate key "name" (a key may appear once per mapping)',
  ]);
  t.same(report(loadYaml('version: 1\n---\nversion: 1\n', 'multi.yaml')), [
    'multi.yaml:2:1: invalid YAML: Source contains multiple documents; please use YAML.parseAllDocuments()',
  ]);
});

t.test('alias bombs are refused', async (t) => {
  const bomb = [
    'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]',
    'b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]',
    'c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]',
    'd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]',
  ].join('\n');
  t.same(report(loadYaml(bomb, 'bomb.yaml')), [
    'bomb.yaml:1:1: cannot expand the YAML aliases: Excessive alias count indicates a resource exhaustion attack',
  ]);
});

t.test('documents of the wrong shape', async (t) => {
  t.same(report(loadYaml('', 'empty.yaml')), ['empty.yaml:1:1: the file is empty; a policy needs at least version, listeners, upstreams and routes']);
  t.same(report(loadYaml('# only a comment\n', 'empty.yaml')), ['empty.yaml:1:1: the file is empty; a policy needs at least version, listeners, upstreams and routes']);
  t.same(report(loadYaml('- version: 1\n', 'list.yaml')), ['list.yaml:1:1: the policy must be a mapping with keys such as version, listeners, upstreams and routes']);
  t.same(report(loadYaml('version: 1\n', 'short.yaml')), [
    'short.yaml:1:1: missing required key "listeners"',
    'short.yaml:1:1: missing required key "upstreams"',
    'short.yaml:1:1: missing required key "routes"',
  ]);
  t.same(report(loadYaml('version: 1\nlistners: []\nupstreams: {}\nroutes: []\n', 'typo.yaml')), [
    'typo.yaml:2:1: unknown key "listners" (did you mean "listeners"?)',
    'typo.yaml:4:9: routes: must not be empty',
  ]);
});

t.test('empty values say so', async (t) => {
  const text = `${HEAD}${yaml`
    routes:
      - name: reads
        upstream: catalog
        hedge:
        timeout:
  `}`;
  t.same(report(loadYaml(text, 'p.yaml')), [
    'p.yaml:9:5: routes[0].hedge: is empty, but must be a mapping (key: value)',
    'p.yaml:10:5: routes[0].timeout: is empty, but must be a duration such as 250ms, 2s or 1m',
  ]);
});

t.test('problems in defaults are reported once, at defaults', async (t) => {
  const text = `${HEAD}${yaml`
    defaults:
      hedge: { maxAttempts: 3 }
      shadow: { percent: 5 }
      retry: { backoff: { base: 1s } }
    routes:
      - { name: a, upstream: catalog }
      - { name: b, upstream: catalog }
      - { name: c, upstream: catalog, hedge: { delay: p99 }, shadow: { upstream: catalog } }
  `}`;
  t.same(report(loadYaml(text, 'p.yaml')), [
    'p.yaml:7:10: defaults.hedge: missing required key "delay" (routes without a hedge block of their own inherit this one)',
    'p.yaml:8:11: defaults.shadow: missing required key "upstream" (routes without a shadow block of their own inherit this one)',
    'p.yaml:9:21: defaults.retry.backoff: max (250ms) must not be below base (1s)',
  ]);
});

t.test('a route without an upstream', async (t) => {
  const text = `${HEAD}${yaml`
    routes:
      - name: nowhere
        match: { pathPrefix: / }
  `}`;
  t.same(report(loadYaml(text, 'p.yaml')), [
    'p.yaml:7:5: routes[0]: missing "upstream" (every route needs one, given here or in defaults, unless it has scatterGather)',
  ]);
});

t.test('scatter-gather rules', async (t) => {
  const text = `${HEAD}${yaml`
    routes:
      - name: page
        upstream: catalog
        retry: { attempts: 2 }
        scatterGather:
          targets:
            - { name: a, upstream: catalog, path: "/a/{sufix}" }
            - { name: a, upstream: reviews }
          require: 3
          aggregate: concat
  `}`;
  t.same(report(loadYaml(text, 'p.yaml')), [
    'p.yaml:8:5: routes[0].upstream: a scatterGather route takes no upstream, retry or hedge',
    'p.yaml:9:5: routes[0].retry: a scatterGather route takes no upstream, retry or hedge',
    'p.yaml:11:7: routes[0].scatterGather: aggregate: concat needs a concat block naming the field to join, e.g. concat: { field: hits }',
    'p.yaml:12:47: routes[0].scatterGather.targets[0].path: unknown placeholder {sufix} (did you mean "suffix"?); use {path}, {suffix} or {query}',
    'p.yaml:13:19: routes[0].scatterGather.targets[1].name: duplicate target name "a" (first used by routes[0].scatterGather.targets[0])',
    'p.yaml:13:32: routes[0].scatterGather.targets[1].upstream: unknown upstream "reviews"; defined: catalog',
    'p.yaml:14:16: routes[0].scatterGather.require: must be at most 2, the number of targets',
  ]);
});

t.test('TLS files must be readable PEM, a certificate with its key', async (t) => {
  const text = yaml`
    version: 1
    listeners: [{ name: outbound, address: 127.0.0.1:15001, tls: { cert: /nonexistent/tls.crt, key: /etc/hostname } }]
    upstreams:
      secure: { endpoints: [https://api.example.com], tls: { cert: /etc/hostname } }
    routes: [{ name: r, upstream: secure }]
  `;
  t.same(report(loadYaml(text, 'p.yaml')), [
    'p.yaml:2:70: listeners[0].tls.cert: cannot read /nonexistent/tls.crt: ENOENT',
    'p.yaml:2:97: listeners[0].tls.key: /etc/hostname is not a PEM file',
    'p.yaml:4:56: upstreams.secure.tls: give cert and key together',
    'p.yaml:4:64: upstreams.secure.tls.cert: /etc/hostname is not a PEM file',
  ]);
});

t.test('a scatterGather route that matches only gRPC calls is refused where it says so', async (t) => {
  const text = `${HEAD}${yaml`
    routes:
      - name: fan-out
        match: { pathPrefix: /shop.Catalog/, headers: { content-type: application/grpc } }
        scatterGather: { targets: [{ name: a, upstream: catalog }] }
  `}`;
  t.same(report(loadYaml(text, 'policy.yaml')), [
    'policy.yaml:8:67: routes[0].match.headers.content-type: a scatterGather route merges JSON answers and cannot honour gRPC calls: send them to a route with an upstream',
  ]);
});
