/**
 * Property-based tests of the listener (fast-check): raw requests, random bytes and requests
 * from the smuggling corpus mutated at random (bytes flipped, dangerous tokens inserted,
 * ranges cut or repeated), sent over raw sockets to a real sidecar in batches. Invariants:
 * - whatever the server writes back parses as complete HTTP/1.1 responses, never more of them
 *   than request lines were sent, and every error the sidecar made is its JSON with
 *   x-outrider-error matching;
 * - the upstream (node's strict server) never receives anything it cannot parse: whatever is
 *   forwarded is well-formed;
 * - after each batch, a well-formed request is answered correctly, nothing stays in flight,
 *   and the process is healthy; no unhandled rejection or uncaught exception.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import fc from 'fast-check';
import t from 'tap';
import { guardProcess } from '../helpers/guard.js';
import { until } from '../helpers/held.js';
import { send } from '../helpers/http.js';
import { rawExchange, wellFormed, type RawExchange } from '../helpers/raw.js';
import { simplePolicy, startSidecar } from '../helpers/sidecar.js';
import { H, SMUGGLING } from './smuggling-corpus.js';

const guard = guardProcess();

// An echo upstream that counts what its own strict parser refuses.
let upstreamParseErrors = 0;
let upstreamRequests = 0;
const upstream = createServer((req, res) => {
  upstreamRequests += 1;
  let bytes = 0;
  req.on('data', (c: Buffer) => (bytes += c.length));
  req.on('end', () => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ url: req.url, bytes }));
  });
});
/** A forward cut short (the client's body broke, the client left) ends the upstream request early: not a malformed one. */
const CUT_SHORT = new Set(['ECONNRESET', 'HPE_INVALID_EOF_STATE']);
const upstreamErrorCodes: string[] = [];
upstream.on('clientError', (err: NodeJS.ErrnoException, socket) => {
  if (!CUT_SHORT.has(err.code ?? '')) {
    upstreamParseErrors += 1;
    upstreamErrorCodes.push(err.code ?? err.message);
  }
  socket.destroy();
});
await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
const upstreamUrl = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;

const proxy = await startSidecar(simplePolicy(upstreamUrl), {
  // Short, so inputs that stop mid-request are cut quickly.
  listenerLimits: { headersTimeoutMs: 400, requestTimeoutMs: 800, keepAliveTimeoutMs: 300 },
});
const port = proxy.sidecar.listenerPort('outbound');
t.teardown(async () => {
  await proxy.close();
  upstream.closeAllConnections();
  await new Promise((resolve) => upstream.close(resolve));
});

const SEEDS: readonly string[] = [
  ...SMUGGLING.map(([, bytes]) => bytes),
  wellFormed('/a'),
  `POST /b HTTP/1.1\r\n${H}Content-Length: 5\r\n\r\nhello`,
  `POST /c HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n`,
  `${wellFormed('/p1')}${wellFormed('/p2')}`,
  `GET http://app/abs HTTP/1.1\r\n${H}\r\n`,
];

const TOKENS = [
  '\r\n',
  '\n',
  '\r',
  ' ',
  '\t',
  ':',
  ',',
  '\u0000',
  '\u00ff',
  'Transfer-Encoding: chunked\r\n',
  'Content-Length: 5\r\n',
  'Content-Length: 0\r\n',
  'Transfer-Encoding: identity\r\n',
  '0\r\n\r\n',
  'GET /smuggled HTTP/1.1\r\nHost: app\r\n\r\n',
  'Host: other\r\n',
  'x-outrider-hops: 9\r\n',
  'Expect: 100-continue\r\n',
  'Connection: close\r\n',
  'Upgrade: h2c\r\n',
  'HTTP/1.0',
  'ffffffff\r\n',
  'a'.repeat(300),
];

const mutation = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), token: fc.constantFrom(...TOKENS) }),
  fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), length: fc.integer({ min: 1, max: 20 }) }),
  fc.record({ kind: fc.constant('repeat' as const), at: fc.nat(), length: fc.integer({ min: 1, max: 40 }) }),
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
);

type Mutation = typeof mutation extends fc.Arbitrary<infer M> ? M : never;

function apply(seed: string, edits: readonly Mutation[]): Buffer {
  let bytes = Buffer.from(seed, 'latin1');
  for (const edit of edits) {
    const at = bytes.length === 0 ? 0 : edit.at % (bytes.length + 1);
    switch (edit.kind) {
      case 'flip':
        if (at < bytes.length) bytes[at] = edit.byte;
        break;
      case 'insert':
        bytes = Buffer.concat([bytes.subarray(0, at), Buffer.from(edit.token, 'latin1'), bytes.subarray(at)]);
        break;
      case 'delete':
        bytes = Buffer.concat([bytes.subarray(0, at), bytes.subarray(at + edit.length)]);
        break;
      case 'repeat':
        bytes = Buffer.concat([bytes.subarray(0, at + edit.length), bytes.subarray(at, at + edit.length), bytes.subarray(at + edit.length)]);
        break;
      case 'truncate':
        bytes = bytes.subarray(0, at);
        break;
    }
  }
  return bytes;
}

const mutated = fc.tuple(fc.constantFrom(...SEEDS), fc.array(mutation, { minLength: 1, maxLength: 4 })).map(([seed, edits]) => apply(seed, edits));
const randomBytes = fc.uint8Array({ minLength: 1, maxLength: 300 }).map((a) => Buffer.from(a));
const input = fc.oneof({ arbitrary: mutated, weight: 5 }, { arbitrary: randomBytes, weight: 1 });

/** Request lines with a version, plus HTTP/0.9-style ones anywhere (method and target only), which also get an answer (a 400). */
/**
 * CI runs a fixed seed, so a red run is reproducible and never a roll of the dice; set
 * FUZZ_SEED=random (or a number) to explore further.
 */
const FUZZ_SEED = process.env.FUZZ_SEED === 'random' ? {} : { seed: Number(process.env.FUZZ_SEED ?? 20261127) };

function requestLines(bytes: Buffer): number {
  const text = bytes.toString('latin1');
  return (text.match(/HTTP\/\d/g) ?? []).length + (text.match(/^[A-Z]+ \/\S*\r?$/gm) ?? []).length;
}

function checkReply(bytes: Buffer, reply: RawExchange): void {
  const where = JSON.stringify(bytes.toString('latin1').slice(0, 300));
  if (reply.trailing !== '') throw new Error(`unparseable answer ${JSON.stringify(reply.trailing.slice(0, 200))} to ${where}`);
  const finals = reply.responses.filter((r) => r.status >= 200);
  if (finals.length > Math.max(1, requestLines(bytes))) throw new Error(`${finals.length} answers to ${requestLines(bytes)} request lines: ${where}`);
  for (const response of reply.responses) {
    const code = response.headers['x-outrider-error'];
    if (code === undefined) continue;
    const body = JSON.parse(response.body) as { error?: string };
    if (body.error !== code) throw new Error(`x-outrider-error ${code} but body ${response.body}`);
  }
}

async function healthy(batch: readonly Buffer[]): Promise<void> {
  const reply = await send(proxy.url(), '/still-fine');
  if (reply.status !== 200 || reply.json<{ url: string }>().url !== '/still-fine') throw new Error(`well-formed request got ${reply.status} ${reply.body}`);
  try {
    await until(async () => {
      const status = (await proxy.admin('/status')).json() as { listeners: { inFlight: number }[] };
      return status.listeners[0]?.inFlight === 0;
    }, 'nothing in flight', 5000);
  } catch (err) {
    const status = (await proxy.admin('/status')).body;
    const recent = proxy.accessLog.lines.slice(-5);
    throw new Error(`${(err as Error).message}: ${status}\nlast access-log lines ${JSON.stringify(recent)}\nbatch ${JSON.stringify(batch.map((b) => b.toString('latin1')))}`);
  }
}

t.test('mutated and random requests: well-formed answers only, the upstream never sees a malformed request, the process stays up', async (t) => {
  let inputs = 0;
  await fc.assert(
    fc.asyncProperty(fc.array(input, { minLength: 10, maxLength: 20 }), async (batch) => {
      const replies = await Promise.all(batch.map((bytes) => rawExchange(port, bytes, { idleMs: 100, timeoutMs: 3000 })));
      batch.forEach((bytes, i) => checkReply(bytes, replies[i] as RawExchange));
      inputs += batch.length;
      await healthy(batch);
      return true;
    }),
    { numRuns: 15, interruptAfterTimeLimit: 15_000, markInterruptAsFailure: false, ...FUZZ_SEED },
  );
  t.ok(inputs >= 50, `${inputs} inputs sent`);
  t.equal(upstreamParseErrors, 0, `the upstream could parse all ${upstreamRequests} requests it was sent ${upstreamErrorCodes.join(', ')}`);
  t.equal((await proxy.admin('/healthz')).status, 200, 'the process is up');
});

guard.check(t);
