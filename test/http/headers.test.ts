/**
 * Request headers on the way upstream, for what HTTP/2 changed: pseudo-headers are the request
 * line's parts, never fields; TE passes only as `trailers` (the one value HTTP/2 allows, and
 * gRPC's need); other hop-by-hop fields stay dropped.
 */
import t from 'tap';
import { clientResponseHeaders, equalsIgnoringCase, findHeader, upstreamRequestHeaders } from '../../src/http/headers.js';

const INFO = { clientAddress: '10.0.0.9', authority: 'catalog:8080', requestId: 'r1', proto: 'http', hops: 1 };

function pairs(flat: readonly string[] | undefined): [string, string][] {
  const out: [string, string][] = [];
  for (let i = 0; flat !== undefined && i < flat.length; i += 2) out.push([flat[i] as string, flat[i + 1] as string]);
  return out;
}

t.test('pseudo-headers are dropped; Host is the authority', async (t) => {
  const out = pairs(upstreamRequestHeaders([':method', 'POST', ':path', '/x', ':authority', 'catalog:8080', ':scheme', 'http', 'content-type', 'application/grpc'], INFO));
  t.notOk(out.some(([name]) => name.startsWith(':')), 'no pseudo-header among the fields');
  t.same(out.slice(0, 2), [['host', 'catalog:8080'], ['content-type', 'application/grpc']]);
});

t.test('TE: trailers passes; any other TE, and the other hop-by-hop fields, do not', async (t) => {
  t.same(pairs(upstreamRequestHeaders(['TE', ' Trailers '], INFO)).filter(([n]) => n === 'te'), [['te', 'trailers']]);
  t.same(pairs(upstreamRequestHeaders(['te', 'gzip', 'connection', 'keep-alive', 'keep-alive', 'timeout=5'], INFO)).filter(([n]) => ['te', 'connection', 'keep-alive'].includes(n)), []);
});

t.test('field names are told apart whatever their case', async (t) => {
  const raw = ['Host', 'catalog', 'Content-Type', 'text/plain', 'Connection', 'Keep-Alive, X-Private', 'X-PRIVATE', 'secret', 'Proxy-Authorization', 'Basic x'];
  t.same(pairs(upstreamRequestHeaders([...raw, 'X-Forwarded-For', '10.1.1.1', 'X-Request-Id', 'own'], INFO)), [
    ['host', 'catalog:8080'],
    ['Content-Type', 'text/plain'],
    ['x-forwarded-for', '10.1.1.1, 10.0.0.9'],
    ['x-forwarded-proto', 'http'],
    ['x-request-id', 'r1'],
    ['x-outrider-hops', '1'],
  ]);
  t.equal(upstreamRequestHeaders(['HOST', 'a', 'host', 'b'], INFO), undefined, 'two Host fields, any case: refused');
  t.equal(findHeader(['Grpc-Status', '0', 'grpc-status', '1'], 'grpc-status'), '0');
  t.equal(findHeader(['grpc-statu', 'x'], 'grpc-status'), undefined);
});

t.test('response fields: hop-by-hop and those named in Connection are dropped, any case', async (t) => {
  const raw = ['Server', 'nginx', 'Connection', 'keep-alive', 'Keep-Alive', 'timeout=5', 'Connection', 'X-Hop', 'x-hop', '1', 'Transfer-Encoding', 'chunked', 'Content-Length', '2'].map((s) => Buffer.from(s, 'latin1'));
  t.same(pairs(clientResponseHeaders(raw)), [
    ['Server', 'nginx'],
    ['Content-Length', '2'],
  ]);
});

t.test('equalsIgnoringCase folds ASCII letters only', async (t) => {
  t.ok(equalsIgnoringCase('Content-Length', 'content-length'));
  t.ok(equalsIgnoringCase('TE', 'te'));
  t.notOk(equalsIgnoringCase('te ', 'te'));
  t.notOk(equalsIgnoringCase('[', '{'), 'not a letter: no folding');
  t.notOk(equalsIgnoringCase('content-length', 'Content-Length'), 'the second is the lower-case form');
  t.notOk(equalsIgnoringCase('Host', 'hosT'));
});
