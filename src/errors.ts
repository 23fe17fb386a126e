/**
 * The catalogue of every code the sidecar emits, in one place (fastify's errors habit; a test
 * fails when it and docs/ disagree: test/errors-docs.test.ts):
 *
 * - ERROR_STATUS: the errors it answers with (docs/policy.md, "Errors the sidecar makes"),
 *   each with one HTTP status; `http/error-response.ts` is the only place that turns an
 *   OutriderError into a response (JSON body + `x-outrider-error`).
 * - RECORDED_CODES: codes it records but never answers with: in the access log and metrics
 *   (`client-closed`), and in a scatter-gather answer's `_errors` (docs/patterns/scatter-gather.md).
 */

export const ERROR_STATUS = {
  'no-route': 404,
  'bad-request': 400,
  'connect-refused': 403,
  'request-timeout': 408,
  'request-too-large': 413,
  'uri-too-long': 414,
  'headers-too-large': 431,
  'upstream-unreachable': 502,
  'upstream-reset': 502,
  'retry-budget-exhausted': 503,
  'circuit-open': 503,
  'bulkhead-full': 503,
  timeout: 504,
  'loop-detected': 508,
} as const;

export type ErrorCode = keyof typeof ERROR_STATUS;

export const RECORDED_CODES = {
  'client-closed': 'The client went away before its answer was written (access log status 499).',
  'upstream-status': 'A scatter-gather target answered 5xx.',
  'response-too-large': 'A scatter-gather target answered more than the per-call limit.',
  'bad-body': 'A scatter-gather target answered something the aggregation cannot use.',
  cancelled: 'A scatter-gather call was stopped: the answer was decided without it, or the client left.',
} as const;

export type RecordedCode = keyof typeof RECORDED_CODES;

/** What a scatter-gather call's failure is called in `_errors`: a catalogue error, or one of the recorded codes. */
export type CallFailureCode = ErrorCode | Exclude<RecordedCode, 'client-closed'>;

export interface ErrorContext {
  readonly route?: string | undefined;
  readonly upstream?: string | undefined;
  readonly listener?: string | undefined;
  /** Seconds, for `retry-after` on refusals that will pass later (circuit-open). */
  readonly retryAfterSeconds?: number | undefined;
  /** More fields for the JSON body, after the standard ones and never named like them (scatter-gather's `targets`). */
  readonly details?: Readonly<Record<string, unknown>> | undefined;
}

export class OutriderError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly context: ErrorContext;

  constructor(code: ErrorCode, message: string, context: ErrorContext = {}, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'OutriderError';
    this.code = code;
    this.status = ERROR_STATUS[code];
    this.context = context;
  }
}

export function isOutriderError(value: unknown): value is OutriderError {
  return value instanceof OutriderError;
}

/** undici error codes that mean no connection was made (nothing reached the upstream). */
const UNREACHABLE_CODES = new Set([
  'ECONNREFUSED',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EADDRNOTAVAIL',
  'UND_ERR_CONNECT_TIMEOUT',
  // protocol h2 and the upstream chose HTTP/1.1 by ALPN (upstream/pool-options.ts): no request was sent.
  'ERR_ALPN_NOT_H2',
]);

/** TLS errors that mean the upstream's certificate was not accepted: no connection was made. */
const CERTIFICATE_CODES = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_REVOKED',
  'CERT_UNTRUSTED',
  'CERT_SIGNATURE_FAILURE',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

/**
 * Classify an upstream transport error as the contract's code. A failed connect (refused,
 * unreachable, timed out, a certificate not accepted) is `upstream-unreachable`; anything
 * after it (a reset, a closed socket, a malformed answer) is `upstream-reset`.
 */
export function classifyUpstreamError(err: unknown, context: ErrorContext): OutriderError {
  if (isOutriderError(err)) return err;
  const code = errorCode(err);
  const detail = err instanceof Error ? err.message : String(err);
  if (code !== undefined && CERTIFICATE_CODES.has(code)) {
    const message = `upstream ${context.upstream ?? ''} unreachable: its TLS certificate was not accepted (${code}): ${detail}`;
    return new OutriderError('upstream-unreachable', message, context, { cause: err });
  }
  if (code !== undefined && UNREACHABLE_CODES.has(code)) {
    return new OutriderError('upstream-unreachable', `upstream ${context.upstream ?? ''} unreachable: ${detail}`, context, { cause: err });
  }
  return new OutriderError('upstream-reset', `upstream ${context.upstream ?? ''} reset the connection: ${detail}`, context, { cause: err });
}

function errorCode(err: unknown): string | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string') return code;
  const cause = (err as { cause?: unknown }).cause;
  return cause === undefined ? undefined : errorCode(cause);
}
