/**
 * The one place where errors become responses (linkerd's "rescue"): a JSON body
 * `{ "error": code, "route", "upstream", "message" }` with the same code in `x-outrider-error`.
 * Anything that is not an OutriderError is a bug or an unclassified upstream failure; it is
 * answered as `upstream-reset` rather than leaking a stack trace.
 */
import { classifyUpstreamError, isOutriderError, type OutriderError } from '../errors.js';
import type { ProxyResponse } from '../pipeline/layer.js';
import { BufferedBody } from './buffered-body.js';
import { grpcErrorResponse } from '../grpc/error-answer.js';

export function toOutriderError(err: unknown, route?: string, upstream?: string): OutriderError {
  return isOutriderError(err) ? err : classifyUpstreamError(err, { route, upstream });
}

/** The error as the client's protocol expects it: a gRPC call gets a trailers-only gRPC answer. */
export function errorAnswer(err: OutriderError, grpc: boolean): ProxyResponse {
  return grpc ? grpcErrorResponse(err) : errorResponse(err);
}

export function errorResponse(err: OutriderError): ProxyResponse & { readonly body: BufferedBody } {
  const { route, upstream, listener, retryAfterSeconds, details } = err.context;
  const body = Buffer.from(
    JSON.stringify({ error: err.code, route: route ?? null, upstream: upstream ?? null, listener, message: err.message, ...details }),
  );
  const headers = [
    'content-type',
    'application/json',
    'content-length',
    String(body.length),
    'x-outrider-error',
    err.code,
    'cache-control',
    'no-store',
  ];
  if (retryAfterSeconds !== undefined) headers.push('retry-after', String(Math.max(1, Math.ceil(retryAfterSeconds))));
  return { status: err.status, headers, body: new BufferedBody(body) };
}
