/**
 * What one try came to, in the contract's vocabulary, shared by retry (`retry.on`), the circuit
 * breaker (`failOn`) and outlier ejection: an upstream status, or a transport failure
 * (`connect-failure`, `reset`, `timeout`), or a refusal by the sidecar itself (`circuit-open`,
 * `bulkhead-full`), which is never retried and never counts against an upstream, or work we
 * cancelled ourselves (client gone, hedge lost), which is no one's failure.
 */
import { isOutriderError } from '../errors.js';
import { Cancelled } from './signal.js';
import type { BreakerFailure, FailureCondition } from '../config/types.js';
import { grpcConditionCode, type GrpcCondition } from '../grpc/status.js';

export type TryOutcome =
  /** An answer; `grpcStatus` when it was a gRPC call's (read from its trailers or trailers-only headers). */
  | { readonly kind: 'status'; readonly status: number; readonly grpcStatus?: number | undefined }
  | { readonly kind: 'connect-failure' | 'reset' | 'timeout' }
  | { readonly kind: 'refused' }
  | { readonly kind: 'cancelled' };

const CONNECT_FAILURE: TryOutcome = Object.freeze({ kind: 'connect-failure' });
const RESET: TryOutcome = Object.freeze({ kind: 'reset' });
const TIMEOUT: TryOutcome = Object.freeze({ kind: 'timeout' });
const REFUSED: TryOutcome = Object.freeze({ kind: 'refused' });
const CANCELLED: TryOutcome = Object.freeze({ kind: 'cancelled' });

/** Outcomes of plain statuses, made once each: every try is judged (outlier detection, breaker, retry, hedge). */
const STATUS_OUTCOMES: TryOutcome[] = [];

export function outcomeOfStatus(status: number, grpcStatus?: number): TryOutcome {
  if (grpcStatus !== undefined) return { kind: 'status', status, grpcStatus };
  return (STATUS_OUTCOMES[status] ??= Object.freeze({ kind: 'status', status }));
}

/** What an answer came to: its status, and a gRPC call's grpc-status. */
export function outcomeOfResponse(response: { readonly status: number; readonly grpcStatus?: number | undefined }): TryOutcome {
  return outcomeOfStatus(response.status, response.grpcStatus);
}

export function outcomeOfError(err: unknown): TryOutcome {
  if (err instanceof Cancelled) return CANCELLED;
  if (!isOutriderError(err)) return RESET;
  switch (err.code) {
    case 'upstream-unreachable':
      return CONNECT_FAILURE;
    case 'timeout':
      return TIMEOUT;
    case 'circuit-open':
    case 'bulkhead-full':
    case 'retry-budget-exhausted':
      return REFUSED;
    default:
      return RESET;
  }
}

const GATEWAY_ERRORS = new Set([502, 503, 504]);
const LOOP_DETECTED = 508;

/** Does the outcome meet one `retry.on` condition? */
export function meetsCondition(outcome: TryOutcome, condition: FailureCondition): boolean {
  if (outcome.kind === 'status') {
    if (typeof condition === 'number') return outcome.status === condition;
    // traffic.md, gRPC: a grpc-status other than 0 is a failure for these conditions although the HTTP status is 200.
    if (condition.startsWith('grpc:')) return outcome.grpcStatus === grpcConditionCode(condition as GrpcCondition);
    // 508 loop-detected is not a passing failure: every sidecar in the loop would retry it,
    // multiplying the work by attempts^hops. Only an explicit `508` in the list matches it.
    if (condition === '5xx') return outcome.status >= 500 && outcome.status <= 599 && outcome.status !== LOOP_DETECTED;
    if (condition === 'gateway-error') return GATEWAY_ERRORS.has(outcome.status);
    return false;
  }
  return outcome.kind === condition;
}

export function meetsAny(outcome: TryOutcome, conditions: readonly FailureCondition[]): boolean {
  for (let i = 0; i < conditions.length; i++) if (meetsCondition(outcome, conditions[i] as FailureCondition)) return true;
  return false;
}

/** Is the outcome a failure under a breaker's `failOn`? 4xx never is; refusals never are. */
export function isBreakerFailure(outcome: TryOutcome, failOn: readonly BreakerFailure[]): boolean {
  return meetsAny(outcome, failOn);
}
