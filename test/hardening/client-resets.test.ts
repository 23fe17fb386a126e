/**
 * Nothing a client sends stops the sidecar (traffic.md): each hostile or unusual opening, then
 * a reset (RST, not FIN), on a listener and on the admin port, and the process keeps serving.
 * Before the fix, one CONNECT and a reset killed the process with an unhandled 'error' event
 * on the socket node:http hands to a 'connect' listener. The in-process cases run under the
 * process guard (an uncaught exception fails the file); the last case runs the real binary.
 */
import net from 'node:net';
import t from 'tap';
import { request } from 'undici';
import { freePort, runBin, waitReady } from '../e2e/process.js';
import { guardProcess } from '../helpers/guard.js';
import { holding, until } from '../helpers/held.js';
import { rawExchange, wellFormed } from '../helpers/raw.js';
import { sendThenReset, tlsClientHello } from '../helpers/reset.js';
import { simplePolicy, startSidecar, writePolicy } from '../helpers/sidecar.js';
import { startUpstream } from '../helpers/upstream.js';

const guard = guardProcess();

const held = holding();
const up = await startUpstream();
const proxy = await startSidecar(simplePolicy(up.url));
const port = proxy.sidecar.listenerPort('outbound');
const adminPort = proxy.sidecar.adminPort();
t.teardown(async () => {
  await proxy.close();
  await up.close();
});

const H2_PREFACE = 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n';
/** Openings a client may send; `answer` says whether an answer is awaited before the reset. */
const OPENINGS: readonly { name: string; bytes: () => Promise<string | Buffer>; answer: boolean }[] = [
  { name: 'CONNECT', bytes: async () => 'CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n', answer: true },
  { name: 'the HTTP/2 preface', bytes: async () => H2_PREFACE, answer: true },
  { name: 'an Upgrade request', bytes: async () => 'GET /ws HTTP/1.1\r\nHost: app\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n', answer: true },
  { name: 'a body cut short', bytes: async () => 'POST /cut HTTP/1.1\r\nHost: app\r\nContent-Length: 100\r\n\r\n0123456789', answer: false },
  { name: 'binary garbage', bytes: async () => Buffer.from([0x00, 0xff, 0x13, 0x37, 0x0d, 0x0a, 0x80, 0xfe, 0x0d, 0x0a, 0x0d, 0x0a]), answer: true },
  { name: 'a TLS ClientHello', bytes: tlsClientHello, answer: true },
];

for (const [where, target] of [
  ['listener', port],
  ['admin port', adminPort],
] as const) {
  t.test(`${where}: each opening, then a reset, and the next request is served`, async (t) => {
    for (const opening of OPENINGS) {
      const answer = await sendThenReset(target, await opening.bytes(), { awaitAnswer: opening.answer });
      if (opening.name === 'CONNECT' && where === 'listener') {
        t.match(answer, /^HTTP\/1\.1 403 /, 'CONNECT: 403 (no tunnels are allowed here)');
        t.match(answer, /x-outrider-error: connect-refused/, 'CONNECT: x-outrider-error connect-refused');
      }
      const next =
        where === 'listener'
          ? (await rawExchange(port, wellFormed(`/after`), { expect: 1 })).responses[0]?.status
          : (await request(`http://127.0.0.1:${adminPort}/healthz`).then(async (r) => (await r.body.dump(), r.statusCode)));
      t.equal(next, 200, `${opening.name}: the next request is answered`);
    }
  });
}

t.test('listener: a reset while the upstream holds the request', async (t) => {
  up.behave(held.behaviour);
  t.teardown(() => up.behave((_req, res) => res.end()));
  const socket = net.connect(port, '127.0.0.1');
  socket.on('error', () => undefined);
  await new Promise((resolve) => socket.once('connect', resolve));
  socket.write(wellFormed('/held'));
  await until(() => held.count === 1, 'the upstream to hold the request');
  socket.resetAndDestroy();
  await until(() => held.count === 0, 'the upstream request to be cancelled');
  await until(async () => {
    const status = (await proxy.admin('/status')).json() as { listeners: { inFlight: number }[] };
    return status.listeners[0]?.inFlight === 0;
  }, 'nothing in flight');
  t.pass('the upstream request was cancelled and nothing is left in flight');
});

t.test('admin port: a reset before the response', async (t) => {
  await sendThenReset(adminPort, 'GET /metrics HTTP/1.1\r\nHost: admin\r\n\r\n', { awaitAnswer: false });
  t.equal((await proxy.admin('/healthz')).status, 200, 'the admin still answers');
});

t.test('the real binary: CONNECT then a reset (the reported crash), and it keeps serving', async (t) => {
  const [listen, admin] = [await freePort(), await freePort()];
  const file = writePolicy(
    simplePolicy(up.url).replace('127.0.0.1:0 }\ndrainTimeout', `127.0.0.1:${admin} }\ndrainTimeout`).replace('address: 127.0.0.1:0 }', `address: 127.0.0.1:${listen} }`),
  );
  const bin = runBin(['--config', file]);
  t.teardown(() => void bin.child.kill('SIGKILL'));
  await waitReady(admin);
  let exited = false;
  void bin.exited.then(() => (exited = true));
  for (const opening of OPENINGS) {
    await sendThenReset(listen, await opening.bytes(), { awaitAnswer: opening.answer });
    await sendThenReset(admin, await opening.bytes(), { awaitAnswer: opening.answer });
  }
  // The crash came when the RST was read; a full request after it proves the loop went past it.
  const after = await rawExchange(listen, wellFormed('/after-bin'), { expect: 1 });
  t.equal(after.responses[0]?.status, 200, 'a request after all of it is answered');
  const health = await request(`http://127.0.0.1:${admin}/healthz`);
  await health.body.dump();
  t.equal(health.statusCode, 200, 'the admin server answers');
  t.notOk(exited, 'the process is still running');
  t.notMatch(bin.stderr.join(''), /Unhandled 'error' event/, 'no unhandled error was printed');
});

guard.check(t);
