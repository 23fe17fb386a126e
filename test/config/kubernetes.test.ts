/**
 * The `kubernetes:` key of an upstream (traffic.md, Upstreams): values that load and what they
 * normalize to, and each wrong one with its exact `file:line:column: message`: exactly one of
 * endpoints and kubernetes, `service` and `port` required, Kubernetes' own name rules, a port
 * number written as a string, TLS that h2 needs and h2c must not have.
 */
import t from 'tap';
import { baseDocument, loadDocument, loadYaml, messages, policyOf, report, withValue, yaml } from './fixtures/policy.js';

const K = ['upstreams', 'catalog'];

function load(kubernetes: unknown, extra: Record<string, unknown> = {}) {
  const doc = withValue(baseDocument(), K, { kubernetes, ...extra });
  return loadDocument(doc);
}

t.test('valid: a name or a number for the port, the namespace optional; normalized as written', async (t) => {
  const named = policyOf(load({ service: 'catalog', namespace: 'shop', port: 'http' })).upstreams.get('catalog');
  t.same(named?.kubernetes, { service: 'catalog', namespace: 'shop', port: 'http' });
  t.same(named?.endpoints, [], 'no endpoints: they are discovered');
  t.same(policyOf(load({ service: 'catalog', port: 8080 })).upstreams.get('catalog')?.kubernetes, { service: 'catalog', namespace: undefined, port: 8080 }, 'the pod namespace, found at run time');
  for (const port of ['grpc-web', 'h2c', 'a1', 'x'.repeat(15), 1, 65535]) t.same(messages(load({ service: 'catalog', port })), [], `port ${String(port)}`);
  for (const service of ['a', 'catalog-v2', `a${'b'.repeat(62)}`]) t.same(messages(load({ service, port: 'http' })), [], `service ${service}`);
  t.same(messages(load({ service: 'catalog', port: 'https' }, { protocol: 'h2', tls: {} })), [], 'h2 with a tls block');
  t.same(messages(load({ service: 'catalog', port: 'grpc' }, { protocol: 'h2c' })), [], 'h2c without one');
  t.same(policyOf(load({ service: 'catalog', port: 'http' })).upstreams.get('search')?.kubernetes, undefined, 'listed endpoints: no kubernetes');
});

t.test('wrong values: one message each, saying what is expected', async (t) => {
  const P = 'upstreams.catalog.kubernetes';
  const cases: [unknown, string][] = [
    [{ port: 'http' }, `${P}: missing required key "service"`],
    [{ service: 'catalog' }, `${P}: missing required key "port"`],
    [{ service: 'Catalog', port: 'http' }, `${P}.service: must be a Service name: lower-case letters, digits and "-", starting with a letter, such as catalog`],
    [{ service: '1catalog', port: 'http' }, `${P}.service: must be a Service name: lower-case letters, digits and "-", starting with a letter, such as catalog`],
    [{ service: `a${'b'.repeat(63)}`, port: 'http' }, `${P}.service: must be a Service name: lower-case letters, digits and "-", starting with a letter, such as catalog`],
    [{ service: 'catalog', namespace: 'Shop', port: 'http' }, `${P}.namespace: must be a namespace name: lower-case letters, digits and "-", such as shop`],
    [{ service: 'catalog', namespace: '', port: 'http' }, `${P}.namespace: must be a namespace name: lower-case letters, digits and "-", such as shop`],
    [{ service: 'catalog', port: '8080' }, `${P}.port: must be the Service port's name (such as http) or number (1-65535) (write the number without quotes: 8080)`],
    [{ service: 'catalog', port: 0 }, `${P}.port: must be the Service port's name (such as http) or number (1-65535)`],
    [{ service: 'catalog', port: 70000 }, `${P}.port: must be the Service port's name (such as http) or number (1-65535)`],
    [{ service: 'catalog', port: 'a--b' }, `${P}.port: must be the Service port's name (such as http) or number (1-65535)`],
    [{ service: 'catalog', port: 'Http' }, `${P}.port: must be the Service port's name (such as http) or number (1-65535)`],
    [{ service: 'catalog', port: 'x'.repeat(16) }, `${P}.port: must be the Service port's name (such as http) or number (1-65535)`],
    [{ service: 'catalog', port: 'http', labels: {} }, `${P}: unknown key "labels"`],
    ['catalog', `${P}: must be a mapping (key: value)`],
  ];
  for (const [value, message] of cases) t.same(messages(load(value)), [message], JSON.stringify(value));
});

t.test('exactly one of endpoints and kubernetes, and TLS that agrees with the protocol', async (t) => {
  const text = yaml`
    version: 1
    listeners: [ { name: outbound, address: 127.0.0.1:15001 } ]
    upstreams:
      both:
        endpoints: [http://10.0.0.1:8080]
        kubernetes: { service: both, port: http }
      neither:
        balance: random
      typo:
        kubernets: { service: typo, port: http }
      grpc-tls:
        kubernetes: { service: grpc, port: grpc }
        protocol: h2
      grpc-plain:
        kubernetes: { service: grpc, port: grpc }
        protocol: h2c
        tls: {}
    routes: [ { name: all, upstream: both } ]
  `;
  t.same(report(loadYaml(text, 'policy.yaml')), [
    'policy.yaml:6:5: upstreams.both.kubernetes: give either endpoints or kubernetes, not both',
    'policy.yaml:8:5: upstreams.neither: missing "endpoints" (or "kubernetes", to discover the pods of a Service)',
    'policy.yaml:10:5: upstreams.typo: unknown key "kubernets" (did you mean "kubernetes"?)',
    'policy.yaml:13:15: upstreams.grpc-tls.protocol: h2 is HTTP/2 over TLS: give a tls block (discovered pods are then called over https://), or use protocol h2c',
    'policy.yaml:17:5: upstreams.grpc-plain.tls: h2c is HTTP/2 without TLS, but a tls block makes discovered pods https://: drop it, or use protocol h2',
  ]);
});
