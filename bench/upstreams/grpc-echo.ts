/**
 * The grpc scenario's upstream: a @grpc/grpc-js server (HTTP/2 without TLS) with one unary
 * method per service, `/SERVICE/Echo`, that answers with the request's bytes. Each service has
 * its own behaviour: `instant` (answered at once) or `tail` (a share of calls held `slowMs`, the
 * rest `fastMs`), drawn from a seeded PRNG so a run replays the same sequence. It counts the
 * calls each service received (a hedge or a retry is a call too) and reports them over IPC.
 *
 * Started by the runner with an IPC channel; the config is argv[2] (JSON, GrpcEchoConfig).
 */
import { Server, ServerCredentials, status, type sendUnaryData, type ServerUnaryCall } from '@grpc/grpc-js';
import { echoService } from '../lib/grpc-service.js';
import type { FromGrpcEcho, GrpcBehaviour, GrpcEchoConfig, ToGrpcEcho } from '../loadgen/grpc-protocol.js';
import { seededRandom } from './behaviour.js';

const config = JSON.parse(process.argv[2] ?? '{}') as GrpcEchoConfig;
const random = seededRandom(config.seed);
const calls = new Map<string, number>();

function send(message: FromGrpcEcho): void {
  process.send?.(message);
}

function handler(service: string, behaviour: GrpcBehaviour) {
  return (call: ServerUnaryCall<Buffer, Buffer>, callback: sendUnaryData<Buffer>): void => {
    calls.set(service, (calls.get(service) ?? 0) + 1);
    const request = call.request;
    if (!Buffer.isBuffer(request)) return callback({ code: status.INVALID_ARGUMENT, details: 'no message' });
    if (behaviour.kind === 'instant') return callback(null, request);
    const delay = random() < behaviour.ratio ? behaviour.slowMs : behaviour.fastMs;
    const timer = setTimeout(() => callback(null, request), delay);
    // A hedge that lost (or a client that gave up) cancels its call: stop holding it.
    call.once('cancelled', () => clearTimeout(timer));
  };
}

const server = new Server({ 'grpc.max_concurrent_streams': 10_000 });
for (const [service, behaviour] of Object.entries(config.services)) {
  server.addService(echoService(service), { Echo: handler(service, behaviour) });
}

process.on('message', (m: ToGrpcEcho) => {
  if (m.type !== 'stats') return;
  send({ type: 'stats', id: m.id, calls: Object.fromEntries(calls) });
  if (m.reset) calls.clear();
});
// The runner going away (even killed) closes the channel: exit with it, never linger.
process.on('disconnect', () => process.exit(0));
const stop = (): void => server.tryShutdown(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);

server.bindAsync(`127.0.0.1:${config.port}`, ServerCredentials.createInsecure(), (err, port) => {
  if (err) {
    send({ type: 'error', message: err.message });
    process.exit(1);
  }
  send({ type: 'listening', port });
});
