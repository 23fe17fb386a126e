/**
 * The sidecar's own errors on a gRPC call are gRPC answers (traffic.md, gRPC): HTTP 200,
 * trailers-only (one HEADERS frame that ends the stream), with `grpc-status`, `grpc-message`
 * and `x-outrider-error`, so a gRPC client sees a status it understands rather than a
 * protocol error. The codes named by the contract come first; any other error takes the
 * code gRPC's own HTTP-to-gRPC table gives its HTTP status (grpc/grpc doc/http-grpc-status-mapping.md).
 */
import type { ErrorCode, OutriderError } from '../errors.js';
import { BufferedBody } from '../http/buffered-body.js';
import type { ProxyResponse } from '../pipeline/layer.js';
import { GRPC_CODES } from './status.js';

const { unavailable, internal, unimplemented } = GRPC_CODES;

/** The contract's table, then a few more of our codes where gRPC has an obvious name for them. */
export const GRPC_STATUS_OF_ERROR: Readonly<Partial<Record<ErrorCode, number>>> = Object.freeze({
  'circuit-open': unavailable,
  'bulkhead-full': unavailable,
  'upstream-unreachable': unavailable,
  'upstream-reset': unavailable,
  timeout: GRPC_CODES['deadline-exceeded'],
  'no-route': unimplemented,
  'request-too-large': GRPC_CODES['resource-exhausted'],
  'bad-request': internal,
  'retry-budget-exhausted': unavailable,
  'request-timeout': GRPC_CODES['deadline-exceeded'],
  'headers-too-large': GRPC_CODES['resource-exhausted'],
  'connect-refused': GRPC_CODES['permission-denied'],
});

/** gRPC's mapping of an HTTP status that carries no grpc-status. */
export function grpcStatusOfHttp(status: number): number {
  switch (status) {
    case 400:
      return internal;
    case 401:
      return GRPC_CODES.unauthenticated;
    case 403:
      return GRPC_CODES['permission-denied'];
    case 404:
      return unimplemented;
    case 429:
    case 502:
    case 503:
    case 504:
      return unavailable;
    default:
      return GRPC_CODES.unknown;
  }
}

export function grpcErrorResponse(err: OutriderError): ProxyResponse & { readonly body: BufferedBody } {
  const grpcStatus = GRPC_STATUS_OF_ERROR[err.code] ?? grpcStatusOfHttp(err.status);
  const headers = ['content-type', 'application/grpc', 'grpc-status', String(grpcStatus), 'grpc-message', encodeGrpcMessage(err.message), 'x-outrider-error', err.code];
  const { retryAfterSeconds } = err.context;
  if (retryAfterSeconds !== undefined) headers.push('retry-after', String(Math.max(1, Math.ceil(retryAfterSeconds))));
  return { status: 200, headers, body: EMPTY, grpcStatus };
}

const EMPTY = new BufferedBody(Buffer.alloc(0));

/** grpc-message is percent-encoded UTF-8: anything outside printable ASCII, and `%` itself (gRPC's PROTOCOL-HTTP2.md). */
export function encodeGrpcMessage(message: string): string {
  let out = '';
  for (const byte of Buffer.from(message, 'utf8')) {
    out += byte >= 0x20 && byte <= 0x7e && byte !== 0x25 ? String.fromCharCode(byte) : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}
