/**
 * The bench's gRPC service, made by hand: no .proto and no proto-loader. Every service has one
 * unary method, `Echo`, whose messages are raw bytes (serialize and deserialize are the
 * identity on Buffers), so neither side spends time on protobuf and the echo can be checked
 * byte for byte. Shared by the gRPC load client and the echo server.
 */
import type { ServiceDefinition } from '@grpc/grpc-js';

const identity = (b: Buffer): Buffer => b;

/** `/SERVICE/Echo`, unary, Buffer in and Buffer out. */
export function echoService(service: string): ServiceDefinition {
  return {
    Echo: {
      path: `/${service}/Echo`,
      requestStream: false,
      responseStream: false,
      requestSerialize: identity,
      requestDeserialize: identity,
      responseSerialize: identity,
      responseDeserialize: identity,
    },
  };
}
