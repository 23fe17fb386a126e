/**
 * The messages between the bench runner and its two gRPC processes (the gRPC load client,
 * loadgen/grpc-load.ts, and the gRPC echo server, upstreams/grpc-echo.ts), and the shape of a
 * gRPC load job and its result. Kept free of imports of @grpc/grpc-js so the runner and the
 * report never load it.
 */
import type { StreamResult } from './protocol.js';

/** One open-loop run of unary calls to one method. */
export interface GrpcJob {
  readonly label: string;
  /** `127.0.0.1:PORT`: the server itself (direct) or Outrider's listener (h2c prior knowledge). */
  readonly target: string;
  /** The service, as in `/SERVICE/Echo` (a route matches it by path prefix). */
  readonly service: string;
  /** Calls per second, open loop: call i is intended for t0 + i/rate. */
  readonly rate: number;
  /** Calls intended during the first `warmupMs` are made but not recorded. */
  readonly warmupMs: number;
  readonly durationMs: number;
  /** Hard bound on the calls of the job (warm-up included). */
  readonly maxCalls: number;
  /** Each call's gRPC deadline (sent as `grpc-timeout`); also bounds the drain after the window. */
  readonly deadlineMs: number;
  /** Request message size; the echo must come back byte for byte. */
  readonly payloadBytes: number;
}

/**
 * A StreamResult whose outcomes are gRPC's: `OK` (the echo came back byte for byte),
 * `mismatch` (status OK, another payload), or the status name with Outrider's
 * `x-outrider-error` when it sent one (`UNAVAILABLE:circuit-open`), `unsent`.
 */
export interface GrpcResult extends StreamResult {
  /** Every call made, warm-up included (the echo server's count is compared with it). */
  readonly issued: number;
}

export type ToGrpcLoad = { readonly type: 'run'; readonly job: GrpcJob } | { readonly type: 'exit' };
export type FromGrpcLoad =
  | { readonly type: 'ready' }
  | { readonly type: 'result'; readonly result: GrpcResult }
  | { readonly type: 'error'; readonly message: string };

/** What a service of the echo server does with a call before echoing it. */
export type GrpcBehaviour =
  | { readonly kind: 'instant' }
  /** `ratio` (0-1) of calls take `slowMs`, the rest `fastMs` (setTimeout, so ~0.1-1 ms later). */
  | { readonly kind: 'tail'; readonly ratio: number; readonly slowMs: number; readonly fastMs: number };

export interface GrpcEchoConfig {
  readonly port: number;
  readonly seed: number;
  /** Service name → behaviour; each service has one unary method, `Echo`. */
  readonly services: Readonly<Record<string, GrpcBehaviour>>;
}

export type ToGrpcEcho = { readonly type: 'stats'; readonly id: number; readonly reset: boolean };
export type FromGrpcEcho =
  | { readonly type: 'listening'; readonly port: number }
  | { readonly type: 'stats'; readonly id: number; readonly calls: Readonly<Record<string, number>> }
  | { readonly type: 'error'; readonly message: string };
