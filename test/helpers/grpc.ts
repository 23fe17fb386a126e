/**
 * gRPC's own client and server (@grpc/grpc-js) for tests, with a service defined by hand: the
 * messages are raw bytes (no protobuf compiler needed), which is all a proxy ever sees anyway.
 * Four methods, one per kind of call: unary, server streaming, client streaming, bidi.
 */
import * as grpc from '@grpc/grpc-js';

const bytes = {
  requestSerialize: (b: Buffer) => b,
  requestDeserialize: (b: Buffer) => b,
  responseSerialize: (b: Buffer) => b,
  responseDeserialize: (b: Buffer) => b,
};

export const ECHO_SERVICE = {
  unary: { path: '/test.Echo/Unary', requestStream: false, responseStream: false, originalName: 'unary', ...bytes },
  serverStream: { path: '/test.Echo/ServerStream', requestStream: false, responseStream: true, originalName: 'serverStream', ...bytes },
  clientStream: { path: '/test.Echo/ClientStream', requestStream: true, responseStream: false, originalName: 'clientStream', ...bytes },
  bidi: { path: '/test.Echo/Bidi', requestStream: true, responseStream: true, originalName: 'bidi', ...bytes },
} as const;

export type EchoImplementation = Partial<Record<keyof typeof ECHO_SERVICE, grpc.UntypedHandleCall>>;

export interface GrpcServer {
  readonly port: number;
  readonly url: string;
  /** Every call's metadata as the server saw it, in arrival order. */
  readonly calls: { readonly method: string; readonly metadata: grpc.Metadata }[];
  close(): Promise<void>;
}

/** A grpc-js server on 127.0.0.1 (h2c, or TLS when given credentials). */
export async function startGrpcServer(impl: EchoImplementation, credentials = grpc.ServerCredentials.createInsecure()): Promise<GrpcServer> {
  const server = new grpc.Server();
  const calls: { method: string; metadata: grpc.Metadata }[] = [];
  const recorded: grpc.UntypedServiceImplementation = {};
  for (const [name, handler] of Object.entries(impl)) {
    recorded[name] = ((call: { metadata: grpc.Metadata }, ...rest: unknown[]) => {
      calls.push({ method: name, metadata: call.metadata });
      return (handler as (...args: unknown[]) => unknown)(call, ...rest);
    }) as grpc.UntypedHandleCall;
  }
  server.addService(ECHO_SERVICE, recorded);
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', credentials, (err, p) => (err ? reject(err) : resolve(p))));
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    calls,
    close: () => new Promise<void>((resolve) => server.tryShutdown(() => resolve())),
  };
}

export const EchoClient = grpc.makeGenericClientConstructor(ECHO_SERVICE, 'Echo');
export type EchoClientInstance = InstanceType<typeof EchoClient>;

/** A client of `address` (host:port); grpc-js's own transparent retries off, so every retry seen is the sidecar's. */
export function echoClient(address: string, credentials = grpc.credentials.createInsecure(), options: grpc.ClientOptions = {}): EchoClientInstance {
  return new EchoClient(address, credentials, { 'grpc.enable_retries': 0, ...options });
}

export interface UnaryResult {
  readonly error: grpc.ServiceError | undefined;
  readonly value: Buffer | undefined;
  /** The answer's initial metadata (headers), when any arrived. */
  readonly metadata: grpc.Metadata | undefined;
}

/** One unary call; never rejects: the status is in `error`. */
export function unaryCall(client: EchoClientInstance, message: Buffer, options: grpc.CallOptions = {}): Promise<UnaryResult> {
  return new Promise((resolve) => {
    let metadata: grpc.Metadata | undefined;
    const call = client.makeUnaryRequest(
      ECHO_SERVICE.unary.path,
      bytes.requestSerialize,
      bytes.responseDeserialize,
      message,
      new grpc.Metadata(),
      options,
      (error: grpc.ServiceError | null, value?: Buffer) => resolve({ error: error ?? undefined, value, metadata: metadata ?? error?.metadata }),
    );
    call.on('metadata', (m: grpc.Metadata) => (metadata = m));
  });
}

/** A sidecar policy with one route, `echo`, for the echo service to `upstreamUrl` over h2c; `routeExtra` adds keys to it. */
export function echoPolicy(upstreamUrl: string, routeExtra = ''): string {
  return `version: 1
admin: { address: 127.0.0.1:0 }
drainTimeout: 1s
listeners:
  - { name: outbound, address: 127.0.0.1:0 }
upstreams:
  app: { endpoints: [${upstreamUrl}], protocol: h2c }
routes:
  - name: echo
    match: { pathPrefix: /test.Echo/ }
    upstream: app
${routeExtra}`;
}

export { grpc };
