/**
 * Telling HTTP/2 from HTTP/1.1 by the first bytes: a preface split over several packets is
 * still HTTP/2; a request that stops matching early is HTTP/1.1 at once; the bytes are put
 * back for the server that takes the connection; a silent connection is closed after the
 * timeout, and one the client ends before saying anything is closed.
 */
import { once } from 'node:events';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { PassThrough } from 'node:stream';
import t, { type Test } from 'tap';
import { H2_PREFACE, sniffPreface } from '../../src/http/h2/preface.js';

async function serve(t: Test, timeoutMs: number): Promise<{ next(): Promise<{ isH2: boolean | undefined; socket: Socket; closed: boolean }>; port: number }> {
  const waiting: ((r: { isH2: boolean | undefined; socket: Socket; closed: boolean }) => void)[] = [];
  const server: Server = createServer((socket) => {
    socket.on('error', () => undefined);
    let settled = false;
    const settle = (isH2: boolean | undefined, closed: boolean): void => {
      if (settled) return;
      settled = true;
      waiting.shift()?.({ isH2, socket, closed });
    };
    sniffPreface(socket, timeoutMs, (isH2) => settle(isH2, false));
    socket.once('close', () => settle(undefined, true));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => server.close());
  return { next: () => new Promise((resolve) => waiting.push(resolve)), port: (server.address() as { port: number }).port };
}


async function read(socket: Socket, bytes: number): Promise<Buffer> {
  socket.resume();
  let got = Buffer.alloc(0);
  for await (const chunk of socket) {
    got = Buffer.concat([got, chunk as Buffer]);
    if (got.length >= bytes) break;
  }
  return got;
}

t.test('a preface in three pieces is HTTP/2, and every byte is put back', async (t) => {
  const server = await serve(t, 5000);
  const client = connect(server.port, '127.0.0.1');
  t.teardown(() => client.destroy());
  const outcome = server.next();
  client.write(H2_PREFACE.subarray(0, 3));
  client.write(H2_PREFACE.subarray(3, 10));
  client.write(Buffer.concat([H2_PREFACE.subarray(10), Buffer.from('frames')]));
  const { isH2, socket } = await outcome;
  t.equal(isH2, true);
  const bytes = await read(socket, H2_PREFACE.length + 6);
  t.same(bytes.subarray(0, H2_PREFACE.length), H2_PREFACE, 'the preface is there for the HTTP/2 server');
});

t.test('an HTTP/1.1 request is told at its first byte', async (t) => {
  const server = await serve(t, 5000);
  const client = connect(server.port, '127.0.0.1');
  t.teardown(() => client.destroy());
  const outcome = server.next();
  client.write('GET / HTTP/1.1\r\n');
  const { isH2, socket } = await outcome;
  t.equal(isH2, false);
  t.equal(String(await read(socket, 16)), 'GET / HTTP/1.1\r\n');
});

t.test('PRI without the rest of the preface is HTTP/1.1 (it stops matching)', async (t) => {
  const server = await serve(t, 5000);
  const client = connect(server.port, '127.0.0.1');
  t.teardown(() => client.destroy());
  const outcome = server.next();
  client.write('PRI * HTTP/1.1\r\n');
  t.equal((await outcome).isH2, false);
});

t.test('a silent connection is closed after the timeout; one ended before a byte is closed', async (t) => {
  const server = await serve(t, 50);
  const silent = connect(server.port, '127.0.0.1');
  silent.on('error', () => undefined);
  const first = await server.next();
  t.same([first.isH2, first.closed], [undefined, true], 'closed by the sniffer after 50 ms of silence');
  silent.destroy();
  const ending = connect(server.port, '127.0.0.1');
  ending.on('error', () => undefined);
  await once(ending, 'connect');
  ending.end();
  const second = await server.next();
  t.same([second.isH2, second.closed], [undefined, true], 'a half-close before any byte closes it (node:http allows half-open sockets)');
});

t.test('each piece of a preface arriving apart is kept (a stream that delivers them one by one)', async (t) => {
  // A PassThrough delivers each write as its own chunk, which TCP on loopback may not.
  const socket = new PassThrough();
  const told: boolean[] = [];
  sniffPreface(socket as unknown as Socket, 5000, (isH2) => told.push(isH2));
  socket.write(H2_PREFACE.subarray(0, 5));
  await new Promise((resolve) => setImmediate(resolve));
  t.same(told, [], 'five bytes matching the preface: not told yet');
  socket.write(H2_PREFACE.subarray(5));
  await new Promise((resolve) => setImmediate(resolve));
  t.same(told, [true]);
  t.same(socket.read(), H2_PREFACE, 'both pieces put back, in order');
  socket.destroy();
});
