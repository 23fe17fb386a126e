/**
 * gRPC's canonical status codes (grpc/grpc doc/statuscodes.md) and the names the policy uses
 * for them (traffic.md, gRPC): lower case with dashes, prefixed `grpc:` in `retry.on` and
 * `circuitBreaker.failOn`.
 */
export const GRPC_CODES = Object.freeze({
  ok: 0,
  cancelled: 1,
  unknown: 2,
  'invalid-argument': 3,
  'deadline-exceeded': 4,
  'not-found': 5,
  'already-exists': 6,
  'permission-denied': 7,
  'resource-exhausted': 8,
  'failed-precondition': 9,
  aborted: 10,
  'out-of-range': 11,
  unimplemented: 12,
  internal: 13,
  unavailable: 14,
  'data-loss': 15,
  unauthenticated: 16,
});

export type GrpcCodeName = keyof typeof GRPC_CODES;

/** `grpc:unavailable` and the like: a try whose answer carried that grpc-status. */
export type GrpcCondition = `grpc:${Exclude<GrpcCodeName, 'ok'>}`;

export const GRPC_CONDITIONS: readonly GrpcCondition[] = Object.freeze(
  (Object.keys(GRPC_CODES) as GrpcCodeName[]).filter((name) => name !== 'ok').map((name) => `grpc:${name}` as GrpcCondition),
);

/** The code a `grpc:` condition names. */
export function grpcConditionCode(condition: GrpcCondition): number {
  return GRPC_CODES[condition.slice(5) as GrpcCodeName];
}

/** A grpc-status field's value as a code, or undefined when it is missing or not a code. */
export function parseGrpcStatus(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const code = Number(value);
  return Number.isInteger(code) && code >= 0 ? code : undefined;
}

const GRPC_TIMEOUT_UNIT_MS: Readonly<Record<string, number>> = { H: 3_600_000, M: 60_000, S: 1000, m: 1, u: 0.001, n: 0.000001 };

/**
 * A `grpc-timeout` value (`100m`, `5S`: up to 8 digits and a unit, gRPC's PROTOCOL-HTTP2.md) in
 * milliseconds, at least 1; undefined when absent or malformed (then the route's timeout alone applies).
 */
export function parseGrpcTimeoutMs(value: string | string[] | undefined): number | undefined {
  if (typeof value !== 'string' || !/^\d{1,8}[HMSmun]$/.test(value)) return undefined;
  const ms = Number(value.slice(0, -1)) * (GRPC_TIMEOUT_UNIT_MS[value.slice(-1)] as number);
  return Math.max(1, Math.ceil(ms));
}
