/**
 * gRPC through the sidecar with gRPC's own client and server: the four kinds of call, and the
 * sidecar's own answers as gRPC statuses.
 */
import t from 'tap';
import { echoClient, echoPolicy, grpc, startGrpcServer, unaryCall, ECHO_SERVICE } from '../helpers/grpc.js';
import { startSidecar } from '../helpers/sidecar.js';

/** The echo route without a route timeout: streaming calls last as long as the test wants. */
const policy = (upstreamUrl: string): string => echoPolicy(upstreamUrl, '    timeout: 0s\n');

t.test('unary, server, client and bidi streaming calls pass through', async (t) => {
  const server = await startGrpcServer({
    unary: (call: grpc.ServerUnaryCall<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) => callback(null, Buffer.concat([Buffer.from('echo:'), call.request])),
    serverStream: (call: grpc.ServerWritableStream<Buffer, Buffer>) => {
      for (let i = 0; i < 5; i++) call.write(Buffer.from(`part ${i} of ${call.request.toString()}`));
      call.end();
    },
    clientStream: (call: grpc.ServerReadableStream<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) => {
      const parts: string[] = [];
      call.on('data', (b: Buffer) => parts.push(b.toString()));
      call.on('end', () => callback(null, Buffer.from(parts.join('+'))));
    },
    bidi: (call: grpc.ServerDuplexStream<Buffer, Buffer>) => {
      call.on('data', (b: Buffer) => call.write(Buffer.from(`pong ${b.toString()}`)));
      call.on('end', () => call.end());
    },
  });
  const sidecar = await startSidecar(policy(server.url));
  const client = echoClient(`127.0.0.1:${sidecar.sidecar.listenerPort('outbound')}`);
  t.teardown(async () => {
    client.close();
    await sidecar.close();
    await server.close();
  });

  const unary = await unaryCall(client, Buffer.from('hello'));
  t.equal(unary.error, undefined, 'unary call succeeds');
  t.equal(unary.value?.toString(), 'echo:hello');
  t.equal(unary.metadata?.get('x-outrider-attempts')[0], '1', 'the answer passed the sidecar');

  const streamed = await new Promise<string[]>((resolve, reject) => {
    const got: string[] = [];
    const call = client.makeServerStreamRequest(ECHO_SERVICE.serverStream.path, (b: Buffer) => b, (b: Buffer) => b, Buffer.from('x'), new grpc.Metadata(), {});
    call.on('data', (b: Buffer) => got.push(b.toString()));
    call.on('error', reject);
    call.on('end', () => resolve(got));
  });
  t.same(streamed, [0, 1, 2, 3, 4].map((i) => `part ${i} of x`), 'server streaming: every message, in order');

  const joined = await new Promise<string>((resolve, reject) => {
    const call = client.makeClientStreamRequest(ECHO_SERVICE.clientStream.path, (b: Buffer) => b, (b: Buffer) => b, new grpc.Metadata(), {}, (err: grpc.ServiceError | null, value?: Buffer) =>
      err ? reject(err) : resolve(value?.toString() ?? ''),
    );
    for (const word of ['a', 'b', 'c']) call.write(Buffer.from(word));
    call.end();
  });
  t.equal(joined, 'a+b+c', 'client streaming: every message reached the server');

  // Ping-pong: the client sends its next message only after the previous answer, so a proxy
  // that waited for the whole request body before calling the upstream would hang here.
  const pongs = await new Promise<string[]>((resolve, reject) => {
    const got: string[] = [];
    const call = client.makeBidiStreamRequest(ECHO_SERVICE.bidi.path, (b: Buffer) => b, (b: Buffer) => b, new grpc.Metadata(), {});
    call.on('data', (b: Buffer) => {
      got.push(b.toString());
      if (got.length < 3) call.write(Buffer.from(String(got.length)));
      else call.end();
    });
    call.on('error', reject);
    call.on('end', () => resolve(got));
    call.write(Buffer.from('0'));
  });
  t.same(pongs, ['pong 0', 'pong 1', 'pong 2'], 'bidi streaming: each answer before the next message');

  const lines = sidecar.accessLog.lines.filter((l) => l.route === 'echo');
  t.equal(lines.length, 4, 'one access-log line per call');
  t.ok(lines.every((l) => l.protocol === 'grpc' && l.grpcStatus === 0), 'each logged as grpc with grpc-status 0');
  const metrics = (await sidecar.admin('/metrics')).body;
  t.match(metrics, /outrider_requests_total\{listener="outbound",route="echo",upstream="app",status_class="2xx",protocol="grpc"\} 4/);
  t.match(metrics, /outrider_grpc_calls_total\{route="echo",upstream="app",grpc_status="ok"\} 4/);
});

t.test("the sidecar's own errors are trailers-only gRPC answers", async (t) => {
  const server = await startGrpcServer({ unary: (_call: unknown, callback: grpc.sendUnaryData<Buffer>) => callback(null, Buffer.from('ok')) });
  const sidecar = await startSidecar(policy(server.url).replace('pathPrefix: /test.Echo/', 'pathPrefix: /elsewhere/'));
  const client = echoClient(`127.0.0.1:${sidecar.sidecar.listenerPort('outbound')}`);
  t.teardown(async () => {
    client.close();
    await sidecar.close();
    await server.close();
  });
  const result = await unaryCall(client, Buffer.from('x'));
  t.equal(result.error?.code, grpc.status.UNIMPLEMENTED, 'no-route is UNIMPLEMENTED');
  t.equal(result.error?.metadata.get('x-outrider-error')[0], 'no-route');
  t.match(result.error?.details, /no route/i, 'grpc-message says why');
  t.equal(server.calls.length, 0);
  const line = sidecar.accessLog.lines.at(-1);
  t.equal(line?.grpcStatus, grpc.status.UNIMPLEMENTED, 'the access log has the grpc-status the client got');
  t.equal(line?.errorCode, 'no-route');
});
