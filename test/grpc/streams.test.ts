/**
 * Streaming gRPC calls on `timeout: 0s` rely on idleTimeout, which on HTTP/2 watches the
 * stream's own bytes: a stalled stream is cut (RST_STREAM) while its neighbour on the same
 * connection keeps talking, and the neighbour is not cut with it.
 */
import t from 'tap';
import { ECHO_SERVICE, echoClient, grpc, startGrpcServer } from '../helpers/grpc.js';
import { startSidecar } from '../helpers/sidecar.js';

t.test('a stalled stream is cut at idleTimeout; a busy neighbour on the same connection is not', async (t) => {
  const server = await startGrpcServer({
    // One message, then nothing: a stream stuck upstream.
    serverStream: (call: grpc.ServerWritableStream<Buffer, Buffer>) => void call.write(Buffer.from('only message')),
    bidi: (call: grpc.ServerDuplexStream<Buffer, Buffer>) => {
      call.on('data', (b: Buffer) => call.write(b));
      call.on('end', () => call.end());
    },
  });
  const sidecar = await startSidecar(`version: 1
admin: { address: 127.0.0.1:0 }
listeners:
  - { name: outbound, address: 127.0.0.1:0 }
upstreams:
  app: { endpoints: [${server.url}], protocol: h2c, connections: 4 }
routes:
  - { name: streams, match: { pathPrefix: /test.Echo/ }, upstream: app, timeout: 0s, idleTimeout: 300ms }
`);
  // One client: both calls share its one HTTP/2 connection to the sidecar.
  const client = echoClient(`127.0.0.1:${sidecar.sidecar.listenerPort('outbound')}`);
  t.teardown(async () => {
    client.close();
    await sidecar.close();
    await server.close();
  });

  const stalled = client.makeServerStreamRequest(ECHO_SERVICE.serverStream.path, (b: Buffer) => b, (b: Buffer) => b, Buffer.from('x'), new grpc.Metadata(), {});
  const stalledMessages: string[] = [];
  stalled.on('data', (b: Buffer) => stalledMessages.push(b.toString()));
  const stalledEnd = new Promise<grpc.ServiceError | undefined>((resolve) => {
    stalled.on('error', resolve);
    stalled.on('end', () => resolve(undefined));
  });

  // The neighbour answers each pong with the next ping until the stalled call has ended (at
  // most 2,000 round trips): bytes move on the connection the whole time.
  let stalledDone = false;
  void stalledEnd.then(() => (stalledDone = true));
  const neighbour = client.makeBidiStreamRequest(ECHO_SERVICE.bidi.path, (b: Buffer) => b, (b: Buffer) => b, new grpc.Metadata(), {});
  let pongs = 0;
  const neighbourEnd = new Promise<grpc.ServiceError | undefined>((resolve) => {
    neighbour.on('error', resolve);
    neighbour.on('end', () => resolve(undefined));
  });
  neighbour.on('data', () => {
    pongs++;
    if (stalledDone || pongs >= 2000) neighbour.end();
    else setTimeout(() => neighbour.write(Buffer.from('ping')), 5);
  });
  neighbour.write(Buffer.from('ping'));

  const stalledError = await stalledEnd;
  t.same(stalledMessages, ['only message'], 'the stalled call got its one message');
  t.equal(stalledError?.code, grpc.status.CANCELLED, 'then it was cut (RST_STREAM CANCEL) at idleTimeout');
  // Bounded: with undici's pool the neighbour waited behind the stalled call for ever.
  const stuck = new Promise<'stuck'>((resolve) => setTimeout(() => resolve('stuck'), 5000).unref());
  const neighbourError = await Promise.race([neighbourEnd, stuck]);
  if (neighbourError === 'stuck') neighbour.cancel();
  t.equal(neighbourError, undefined, 'the neighbour ended normally');
  t.ok(pongs > 10 && pongs < 2000, `the neighbour kept talking meanwhile (${pongs} round trips) and was not cut`);
  const line = sidecar.accessLog.lines.find((l) => l.path === ECHO_SERVICE.serverStream.path);
  t.equal(line?.errorCode, 'timeout', 'logged as the idle timeout');
});
