/**
 * Request headers on the way upstream, for what HTTP/2 changed: pseudo-headers are the request
 * line's parts, never fields; TE passes only as `trailers` (the one value HTTP/2 allows, and
 * gRPC's need); other hop-by-hop fields stay dropped.
 */
import t from 'tap';
import { upstreamRequestHeaders } from '../../src/http/headers.js';

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
