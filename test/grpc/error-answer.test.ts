/**
 * The sidecar's errors as gRPC answers: the contract's table, gRPC's HTTP-to-gRPC mapping for
 * the rest, grpc-message percent-encoding, and retry-after kept.
 */
import t from 'tap';
import { ERROR_STATUS, OutriderError, type ErrorCode } from '../../src/errors.js';
import { encodeGrpcMessage, grpcErrorResponse, grpcStatusOfHttp } from '../../src/grpc/error-answer.js';
import { findHeader } from '../../src/http/headers.js';

const CONTRACT: Partial<Record<ErrorCode, number>> = {
  'circuit-open': 14,
  'bulkhead-full': 14,
  'upstream-unreachable': 14,
  'upstream-reset': 14,
  timeout: 4,
  'no-route': 12,
  'request-too-large': 8,
  'bad-request': 13,
};

t.test("the contract's mapping, and an answer for every error code", async (t) => {
  for (const code of Object.keys(ERROR_STATUS) as ErrorCode[]) {
    const answer = grpcErrorResponse(new OutriderError(code, `because ${code}`, {}));
    t.equal(answer.status, 200, `${code}: HTTP 200`);
    t.equal(findHeader(answer.headers, 'content-type'), 'application/grpc');
    t.equal(findHeader(answer.headers, 'x-outrider-error'), code);
    t.equal(findHeader(answer.headers, 'grpc-status'), String(answer.grpcStatus));
    t.equal(answer.body.bytes.length, 0, `${code}: trailers-only, no body`);
    const expected = CONTRACT[code];
    if (expected !== undefined) t.equal(answer.grpcStatus, expected, `${code} → ${expected} (traffic.md)`);
  }
  t.equal(grpcErrorResponse(new OutriderError('loop-detected', 'x', {})).grpcStatus, 2, 'an unlisted code falls back to its HTTP status (508 → UNKNOWN)');
});

t.test("gRPC's HTTP-to-gRPC table", async (t) => {
  t.same([400, 401, 403, 404, 429, 502, 503, 504, 500, 418].map(grpcStatusOfHttp), [13, 16, 7, 12, 14, 14, 14, 14, 2, 2]);
});

t.test('grpc-message is percent-encoded; retry-after is kept', async (t) => {
  t.equal(encodeGrpcMessage('plain text'), 'plain text');
  t.equal(encodeGrpcMessage('100% café\n'), '100%25 caf%C3%A9%0A');
  const open = grpcErrorResponse(new OutriderError('circuit-open', 'open', { retryAfterSeconds: 2.2 }));
  t.equal(findHeader(open.headers, 'retry-after'), '3');
});
