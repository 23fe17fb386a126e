/**
 * The pieces of passthrough that need no sidecar: reading an authority, telling our own
 * sockets apart, and the bounded origin cache (least recently used out, idle ones closed).
 */
import { networkInterfaces } from 'node:os';
import t from 'tap';
import type { UpstreamRuntime } from '../../src/upstream/upstream.js';
import type { Clock } from '../../src/util/clock.js';
import { makeUpstream, parseAuthority, PassthroughOrigins, reachesSelf, type PassthroughTarget } from '../../src/sidecar/passthrough-origins.js';
import { fakeClock } from '../helpers/fake-clock.js';

t.test('authorities: host[:port], port 80 by default, IPv6 in brackets', async (t) => {
  t.match(parseAuthority('Catalog.Shop:8080'), { host: 'catalog.shop', port: 8080, key: 'catalog.shop:8080', origin: 'http://catalog.shop:8080' });
  t.match(parseAuthority('10.0.0.1'), { host: '10.0.0.1', port: 80, key: '10.0.0.1:80' });
  t.match(parseAuthority('[FD00::1]:81'), { host: 'fd00::1', port: 81, key: '[fd00::1]:81', origin: 'http://[fd00::1]:81' });
  for (const bad of ['', 'a b', 'user@host', 'host:0', 'host:65536', 'host:', '[nothex]:80', 'fd00::1', 'host/path', 'host:80:81']) {
    t.equal(parseAuthority(bad), undefined, JSON.stringify(bad));
  }
});

t.test('our own sockets: the bound host, loopback names, a wildcard on any local address', async (t) => {
  const local = (): Set<string> => new Set(['127.0.0.1', '198.18.2.1']);
  const own = [
    { host: '127.0.0.1', port: 15001 },
    { host: '0.0.0.0', port: 15006 },
  ];
  const hits = (host: string, port: number): boolean => reachesSelf({ host, port }, own, local);
  t.ok(hits('127.0.0.1', 15001));
  t.ok(hits('localhost', 15001), 'localhost is loopback');
  t.ok(hits('127.0.0.5', 15001), 'so is all of 127/8');
  t.notOk(hits('198.18.2.1', 15001), 'a loopback-bound listener is not on the pod address');
  t.ok(hits('198.18.2.1', 15006), 'a wildcard-bound one is');
  t.ok(hits('127.0.0.1', 15006));
  t.notOk(hits('198.18.2.2', 15006), 'another host on the same port is not us');
  t.notOk(hits('127.0.0.1', 8080), 'another port is not us');
  // This namespace's own addresses, as the sidecar reads them.
  const wildcard = [{ host: '0.0.0.0', port: 15006 }];
  const addresses = Object.values(networkInterfaces()).flat();
  const foreign = ['203.0.113.254', '198.51.100.254'].find((a) => !addresses.some((i) => i?.address === a)) as string;
  t.notOk(reachesSelf({ host: foreign, port: 15006 }, wildcard), 'an address of no interface here is not us');
  const mine = addresses.find((i) => i !== undefined && !i.internal && i.family === 'IPv4');
  if (mine !== undefined) t.ok(reachesSelf({ host: mine.address, port: 15006 }, wildcard), `this machine's ${mine.address} is us`);
});

t.test('the cache: one upstream per origin, least recently used out, idle ones closed', async (t) => {
  const clock = fakeClock();
  const closed: string[] = [];
  const made: string[] = [];
  const make = (target: PassthroughTarget, c: Clock): UpstreamRuntime => {
    made.push(target.key);
    const upstream = makeUpstream(target, c);
    const close = upstream.close.bind(upstream);
    upstream.close = () => (closed.push(target.key), close());
    return upstream;
  };
  const origins = new PassthroughOrigins(clock, 2, 1_000, make);
  t.teardown(() => origins.close());
  const target = (authority: string): PassthroughTarget => parseAuthority(authority) as PassthroughTarget;

  const a = await origins.forwardFor(target('a.test'));
  t.equal(await origins.forwardFor(target('a.test:80')), a, 'the same origin, the same upstream');
  await origins.forwardFor(target('10.0.0.2:8080'));
  clock.advance(10);
  await origins.forwardFor(target('a.test'));
  await origins.forwardFor(target('10.0.0.3'));
  t.equal(origins.size, 2, 'bounded');
  t.same(closed, ['10.0.0.2:8080'], 'the least recently used went, and was closed');
  t.equal(await origins.forwardFor(target('a.test')), a, 'the recently used one stayed');

  clock.advance(1_000);
  await origins.forwardFor(target('10.0.0.4'));
  t.same(closed, ['10.0.0.2:8080', '10.0.0.3:80', 'a.test:80'], 'idle past idleMs: closed at the next use of the cache');
  t.equal(origins.size, 1);
  t.not(await origins.forwardFor(target('a.test')), a, 'a closed origin comes back as a new upstream');
  t.same(made, ['a.test:80', '10.0.0.2:8080', '10.0.0.3:80', '10.0.0.4:80', 'a.test:80']);
  await origins.close();
  t.equal(origins.size, 0);
  t.same(closed.slice(3).sort(), ['10.0.0.4:80', 'a.test:80'], 'close closes every one');
});
