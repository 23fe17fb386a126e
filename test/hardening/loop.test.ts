/**
 * Loop protection: every pass through a listener adds one to x-outrider-hops; a request that
 * has passed MAX_HOPS (8) times already is refused with 508 loop-detected. A count, not a
 * flag: an app calling itself through its own sidecar passes twice (outbound, then inbound).
 */
import t from 'tap';
import { MAX_HOPS, hopCount } from '../../src/http/headers.js';
import { freePort } from '../e2e/process.js';
import { guardProcess } from '../helpers/guard.js';
import { send } from '../helpers/http.js';
import { simplePolicy, startSidecar } from '../helpers/sidecar.js';
import { startUpstream } from '../helpers/upstream.js';

const guard = guardProcess();

t.test('hop counts as sent: the largest integer, garbage as 0', async (t) => {
  t.equal(MAX_HOPS, 8);
  t.equal(hopCount(undefined), 0);
  t.equal(hopCount('3'), 3);
  t.equal(hopCount('2, 7'), 7, 'repeated fields joined by node');
  t.equal(hopCount('banana'), 0);
  t.equal(hopCount('-4'), 0);
});

t.test('the header is set, incremented, and refused past the bound', async (t) => {
  const up = await startUpstream();
  const proxy = await startSidecar(simplePolicy(up.url));
  t.teardown(async () => {
    await proxy.close();
    await up.close();
  });
  const hopsSeen = async (sent?: string): Promise<unknown> => {
    const reply = await send(proxy.url(), '/hops', sent === undefined ? {} : { headers: { 'x-outrider-hops': sent } });
    return reply.status === 200 ? reply.json<{ headers: Record<string, string> }>().headers['x-outrider-hops'] : reply.status;
  };
  t.equal(await hopsSeen(), '1', 'a fresh request leaves with 1');
  t.equal(await hopsSeen('3'), '4', 'a counted one leaves with one more');
  t.equal(await hopsSeen('junk'), '1', 'garbage is replaced');
  t.equal(await hopsSeen('7'), '8', 'the eighth pass is still forwarded');
  const before = up.requests.length;
  const refused = await send(proxy.url(), '/hops', { headers: { 'x-outrider-hops': '8' } });
  t.equal(refused.status, 508, 'the ninth is refused');
  t.equal(refused.headers['x-outrider-error'], 'loop-detected');
  t.match(refused.json(), { error: 'loop-detected', route: null });
  t.equal(up.requests.length, before, 'and never forwarded');
  t.equal((await send(proxy.url(), '/hops', { headers: { 'x-outrider-hops': '999999' } })).status, 508);
});

t.test('an app calling itself through outbound then inbound passes twice and is served', async (t) => {
  const app = await startUpstream();
  const inboundPort = await freePort();
  const proxy = await startSidecar(`version: 1
admin: { address: 127.0.0.1:0 }
listeners:
  - { name: outbound, address: 127.0.0.1:0 }
  - { name: inbound, address: 127.0.0.1:${inboundPort} }
upstreams:
  me-via-inbound: { endpoints: [http://127.0.0.1:${inboundPort}] }
  local-app: { endpoints: [${app.url}] }
routes:
  - { name: out, listener: outbound, match: { pathPrefix: / }, upstream: me-via-inbound }
  - { name: in, listener: inbound, match: { pathPrefix: / }, upstream: local-app }
`);
  t.teardown(async () => {
    await proxy.close();
    await app.close();
  });
  const reply = await send(proxy.url('outbound'), '/self');
  t.equal(reply.status, 200);
  t.equal(reply.json<{ headers: Record<string, string> }>().headers['x-outrider-hops'], '2', 'the app sees two passes');
});

t.test('a route that points back at its own listener: 508 after 8 passes, and no retry storm', async (t) => {
  const loopPort = await freePort();
  const proxy = await startSidecar(`version: 1
admin: { address: 127.0.0.1:0 }
listeners:
  - { name: outbound, address: 127.0.0.1:${loopPort} }
upstreams:
  myself: { endpoints: [http://127.0.0.1:${loopPort}] }
routes:
  - name: loop
    match: { pathPrefix: / }
    upstream: myself
    timeout: 5s
    retry: { attempts: 3, on: [5xx, reset], backoff: { base: 1ms, max: 2ms } }
`);
  t.teardown(() => proxy.close());
  const reply = await send(proxy.url(), '/round-and-round');
  t.equal(reply.status, 508, 'the client gets 508');
  t.equal(reply.headers['x-outrider-error'], 'loop-detected', 'with the code of the pass that refused it');
  const passes = proxy.accessLog.lines.filter((l) => l.path === '/round-and-round');
  t.equal(passes.length, MAX_HOPS + 1, 'eight forwarded passes and the refusal: 9 access-log lines, not 3^8');
  t.equal(passes.filter((l) => l.errorCode === 'loop-detected').length, 1, 'one refusal');
});

guard.check(t);
