/**
 * The patterns on gRPC calls, with gRPC's own client and server: retry on a grpc-status,
 * a breaker in front of a stopped server, the client's deadline, hedging a slow unary call.
 */
import { once } from 'node:events';
import { connect } from 'node:http2';
import { createServer } from 'node:net';
import t, { type Test } from 'tap';
import { echoClient, echoPolicy, grpc, startGrpcServer, unaryCall } from '../helpers/grpc.js';
import { startSidecar } from '../helpers/sidecar.js';

async function setUp(t: Test, upstreamUrl: string, routeExtra: string) {
  const sidecar = await startSidecar(echoPolicy(upstreamUrl, routeExtra));
  const client = echoClient(`127.0.0.1:${sidecar.sidecar.listenerPort('outbound')}`);
  t.teardown(async () => {
    client.close();
    await sidecar.close();
  });
  return { sidecar, client };
}

t.test('a flaky server behind retry on grpc:unavailable: every call succeeds', async (t) => {
  let calls = 0;
  const server = await startGrpcServer({
    // Every other call fails UNAVAILABLE (trailers-only, as grpc-js sends an error before any message).
    unary: (_call: unknown, callback: grpc.sendUnaryData<Buffer>) =>
      ++calls % 2 === 1 ? callback({ code: grpc.status.UNAVAILABLE, details: 'flaky' }) : callback(null, Buffer.from('ok')),
  });
  t.teardown(() => server.close());
  const { client, sidecar } = await setUp(t, server.url, `    retry: { attempts: 3, on: ["grpc:unavailable"], backoff: { base: 1ms, max: 2ms } }\n`);
  const results = [];
  for (let i = 0; i < 10; i++) results.push(await unaryCall(client, Buffer.from(`call ${i}`)));
  t.equal(results.filter((r) => r.error === undefined).length, 10, '10 of 10 calls succeed although every first try fails');
  t.equal(calls, 20, 'each call took two tries');
  const retried = server.calls.filter((c) => c.metadata.get('grpc-previous-rpc-attempts')[0] === '1');
  t.equal(retried.length, 10, 'each retried try carried grpc-previous-rpc-attempts: 1');
  t.ok(retried.every((c) => c.metadata.get('x-outrider-attempt')[0] === '2'), '… and x-outrider-attempt: 2');
  t.ok(server.calls.filter((c) => c.metadata.get('x-outrider-attempt')[0] === '1').every((c) => c.metadata.get('grpc-previous-rpc-attempts').length === 0), 'first tries carry no grpc-previous-rpc-attempts');
  t.equal(results[0]?.metadata?.get('x-outrider-attempts')[0], '2', 'the answer says two tries');
  t.match((await sidecar.admin('/metrics')).body, /outrider_tries_total\{route="echo",kind="retry"\} 10/);
});

t.test('without grpc:unavailable in retry.on, the failure is passed on as the server sent it', async (t) => {
  const server = await startGrpcServer({ unary: (_call: unknown, callback: grpc.sendUnaryData<Buffer>) => callback({ code: grpc.status.UNAVAILABLE, details: 'down' }) });
  t.teardown(() => server.close());
  const { client } = await setUp(t, server.url, `    retry: { attempts: 3, on: ["grpc:internal"], backoff: { base: 1ms, max: 2ms } }\n`);
  const result = await unaryCall(client, Buffer.from('x'));
  t.equal(result.error?.code, grpc.status.UNAVAILABLE);
  t.equal(result.error?.details, 'down', "the server's own message");
  t.equal(server.calls.length, 1, 'not retried');
});

t.test('a message already passed on is never retried', async (t) => {
  let calls = 0;
  const server = await startGrpcServer({
    serverStream: (call: grpc.ServerWritableStream<Buffer, Buffer>) => {
      calls++;
      call.write(Buffer.from('first message'));
      call.emit('error', { code: grpc.status.UNAVAILABLE, details: 'after a message' });
    },
  });
  t.teardown(() => server.close());
  const { client } = await setUp(t, server.url, `    retry: { attempts: 3, on: ["grpc:unavailable"], backoff: { base: 1ms, max: 2ms } }\n`);
  const outcome = await new Promise<{ got: string[]; code: number | undefined }>((resolve) => {
    const got: string[] = [];
    const call = client.makeServerStreamRequest('/test.Echo/ServerStream', (b: Buffer) => b, (b: Buffer) => b, Buffer.from('x'), new grpc.Metadata(), {});
    call.on('data', (b: Buffer) => got.push(b.toString()));
    call.on('error', (err: grpc.ServiceError) => resolve({ got, code: err.code }));
    call.on('end', () => resolve({ got, code: undefined }));
  });
  t.same(outcome.got, ['first message']);
  t.equal(outcome.code, grpc.status.UNAVAILABLE, 'the status after the message reaches the client');
  t.equal(calls, 1, 'no second try once a message was passed on');
});

t.test('a stopped server behind a breaker: UNAVAILABLE with x-outrider-error circuit-open', async (t) => {
  // A port that refuses connections: bound, then closed.
  const probe = createServer().listen(0, '127.0.0.1');
  await once(probe, 'listening');
  const port = (probe.address() as { port: number }).port;
  probe.close();
  const { client } = await setUp(t, `http://127.0.0.1:${port}`, `    circuitBreaker: { minRequests: 5, failureRatio: 0.5, openFor: 30s }\n`);
  const results = [];
  for (let i = 0; i < 8; i++) results.push(await unaryCall(client, Buffer.from('x')));
  t.ok(results.every((r) => r.error?.code === grpc.status.UNAVAILABLE), 'every call is UNAVAILABLE');
  const errors = results.map((r) => r.error?.metadata.get('x-outrider-error')[0]);
  t.same(errors.slice(0, 5), Array(5).fill('upstream-unreachable'), 'refused connections first');
  t.same(errors.slice(5), Array(3).fill('circuit-open'), 'then the breaker answers without trying');
});

t.test("the client's deadline (grpc-timeout) caps the route timeout", async (t) => {
  const cancelled: boolean[] = [];
  const server = await startGrpcServer({
    unary: (call: grpc.ServerUnaryCall<Buffer, Buffer>) => {
      // Never answers; the server sees the call cancelled when the sidecar gives up on it.
      call.on('cancelled', () => cancelled.push(true));
    },
  });
  t.teardown(() => server.close());
  const { client, sidecar } = await setUp(t, server.url, `    timeout: 30s\n`);
  const result = await unaryCall(client, Buffer.from('x'), { deadline: Date.now() + 300 });
  t.equal(result.error?.code, grpc.status.DEADLINE_EXCEEDED);
  const deadline = Date.now() + 5000;
  while (sidecar.accessLog.lines.length === 0 && Date.now() < deadline) await new Promise((r) => setImmediate(r));
  const line = sidecar.accessLog.lines[0];
  // Whichever is first: the sidecar's grpc-timeout (timeout) or the client's own cancel (client-closed).
  t.ok(line?.errorCode === 'timeout' || line?.errorCode === 'client-closed', `the call was stopped (${String(line?.errorCode)}), not left to the 30 s route timeout`);
  t.ok(Number(line?.duration) < 5000, 'within the deadline, far below the route timeout');
});

t.test('hedging a slow unary call: the hedge copy answers', async (t) => {
  let calls = 0;
  const server = await startGrpcServer({
    unary: (call: grpc.ServerUnaryCall<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) => {
      // The first try never answers (a stuck replica); the hedge copy answers at once.
      if (++calls === 1) return void call.on('cancelled', () => undefined);
      callback(null, Buffer.from('from the hedge'));
    },
  });
  t.teardown(() => server.close());
  const { client } = await setUp(t, server.url, `    timeout: 10s\n    hedge: { delay: 50ms, maxAttempts: 2 }\n`);
  const result = await unaryCall(client, Buffer.from('x'));
  t.equal(result.error, undefined);
  t.equal(result.value?.toString(), 'from the hedge');
  t.equal(result.metadata?.get('x-outrider-hedged')[0], '1', 'the answer says it was hedged');
  t.equal(server.calls[1]?.metadata.get('grpc-previous-rpc-attempts')[0], '1', 'the hedge copy carries grpc-previous-rpc-attempts');
});

t.test('shadow copies unary gRPC calls; the client gets the primary answer', async (t) => {
  const primary = await startGrpcServer({ unary: (_call: unknown, callback: grpc.sendUnaryData<Buffer>) => callback(null, Buffer.from('primary')) });
  let copied: (request: Buffer) => void = () => undefined;
  const copy = new Promise<Buffer>((resolve) => (copied = resolve));
  const shadow = await startGrpcServer({
    unary: (call: grpc.ServerUnaryCall<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) => {
      copied(call.request);
      callback(null, Buffer.from('shadow'));
    },
  });
  t.teardown(() => Promise.all([primary.close(), shadow.close()]));
  const sidecar = await startSidecar(
    echoPolicy(primary.url, `    shadow: { upstream: shadowed, percent: 100 }\n`).replace('upstreams:\n', `upstreams:\n  shadowed: { endpoints: [${shadow.url}], protocol: h2c }\n`),
  );
  const client = echoClient(`127.0.0.1:${sidecar.sidecar.listenerPort('outbound')}`);
  t.teardown(async () => {
    client.close();
    await sidecar.close();
  });
  const result = await unaryCall(client, Buffer.from('copy me'));
  t.equal(result.value?.toString(), 'primary', 'the client gets the primary answer');
  t.equal(String(await copy), 'copy me', 'the shadow upstream got the same call');
  t.equal(shadow.calls[0]?.metadata.get('x-outrider-shadow')[0], '1');
});

t.test('a scatter-gather route refuses a gRPC call with a gRPC status', async (t) => {
  const server = await startGrpcServer({ unary: (_call: unknown, callback: grpc.sendUnaryData<Buffer>) => callback(null, Buffer.from('x')) });
  t.teardown(() => server.close());
  const sidecar = await startSidecar(`version: 1
admin: { address: 127.0.0.1:0 }
listeners:
  - { name: outbound, address: 127.0.0.1:0 }
upstreams:
  app: { endpoints: [${server.url}], protocol: h2c }
routes:
  - name: fan
    match: { pathPrefix: /test.Echo/ }
    scatterGather: { targets: [ { name: a, upstream: app }, { name: b, upstream: app } ] }
`);
  const client = echoClient(`127.0.0.1:${sidecar.sidecar.listenerPort('outbound')}`);
  t.teardown(async () => {
    client.close();
    await sidecar.close();
  });
  const result = await unaryCall(client, Buffer.from('x'));
  t.equal(result.error?.code, grpc.status.INTERNAL, 'bad-request is INTERNAL (the contract table)');
  t.equal(result.error?.metadata.get('x-outrider-error')[0], 'bad-request');
  t.match(result.error?.details, /cannot answer a gRPC call/);
  t.equal(server.calls.length, 0, 'no target was called');
});

t.test('a failure after headers but before any message is still retried (the answer is held until it is known)', async (t) => {
  let calls = 0;
  const server = await startGrpcServer({
    unary: (call: grpc.ServerUnaryCall<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) => {
      // Headers first, then the status in trailers: not a trailers-only answer.
      call.sendMetadata(new grpc.Metadata());
      if (++calls === 1) return callback({ code: grpc.status.UNAVAILABLE, details: 'after headers' });
      callback(null, Buffer.from('second try'));
    },
  });
  t.teardown(() => server.close());
  const { client } = await setUp(t, server.url, `    retry: { attempts: 2, on: ["grpc:unavailable"], backoff: { base: 1ms, max: 2ms } }\n`);
  const result = await unaryCall(client, Buffer.from('x'));
  t.equal(result.error, undefined);
  t.equal(result.value?.toString(), 'second try');
  t.equal(calls, 2);
});

t.test('grpc-timeout from the client caps the route timeout: DEADLINE_EXCEEDED, trailers-only, from the sidecar', async (t) => {
  const server = await startGrpcServer({ unary: () => undefined }); // never answers
  t.teardown(() => server.close());
  const { sidecar } = await setUp(t, server.url, `    timeout: 20s\n`);
  // node's own HTTP/2 client, so no client-side deadline races the sidecar's.
  const session = connect(sidecar.url());
  t.teardown(() => session.close());
  const frame = Buffer.from([0, 0, 0, 0, 1, 0x78]); // one uncompressed 1-byte message
  const stream = session.request({ ':method': 'POST', ':path': '/test.Echo/Unary', 'content-type': 'application/grpc', te: 'trailers', 'grpc-timeout': '200m' });
  stream.end(frame);
  const [headers, flags] = (await once(stream, 'response')) as [Record<string, string>, number];
  t.equal(headers['grpc-status'], String(grpc.status.DEADLINE_EXCEEDED));
  t.equal(headers['x-outrider-error'], 'timeout');
  t.match(decodeURIComponent(headers['grpc-message'] ?? ''), /grpc-timeout of 200 ms/);
  t.ok((flags & 0x1) !== 0, 'one HEADERS frame ending the stream (trailers-only)');
  stream.resume();
  await once(stream, 'close');
});
