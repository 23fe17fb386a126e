/**
 * gRPC's trailers-only answer on HTTP/2: one HEADERS frame carrying the status and ending the
 * stream (gRPC's PROTOCOL-HTTP2.md). node:http2's compatibility response always sends headers
 * and then an empty DATA frame to end the stream, which gRPC clients read as "no status" (a
 * grpc-js client reported `Call ended without gRPC status`), so such answers go out through the
 * stream itself.
 */
import type { Http2ServerResponse, OutgoingHttpHeaders } from 'node:http2';
import type { BodySink, ProxyResponse } from '../../pipeline/layer.js';
import { findHeader } from '../headers.js';

/** A gRPC answer whose headers already carry grpc-status: there is nothing more to send. */
export function isTrailersOnly(response: ProxyResponse): boolean {
  return response.grpcStatus !== undefined && findHeader(response.headers, 'grpc-status') !== undefined;
}

export function respondTrailersOnly(res: Http2ServerResponse, response: ProxyResponse): void {
  const headers: OutgoingHttpHeaders = { ':status': response.status };
  const flat = response.headers;
  for (let i = 0; i < flat.length; i += 2) {
    const name = (flat[i] as string).toLowerCase();
    const value = flat[i + 1] as string;
    const seen = headers[name];
    headers[name] = seen === undefined ? value : Array.isArray(seen) ? [...seen, value] : [String(seen), value];
  }
  res.stream.respond(headers, { endStream: true });
  res.end(); // marks the compatibility response finished, so the exchange is not counted as a client gone
  // An upstream's trailers-only answer has an empty body that is already complete; let it settle.
  response.body.pipeTo(DISCARD);
}

const DISCARD: BodySink = {
  write: () => true,
  end: () => undefined,
  fail: () => undefined,
};
