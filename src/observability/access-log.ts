/**
 * One JSON line per request on stdout, with the fields of the contract: time, request id,
 * listener, route, upstream, endpoint, method, path, status, duration (ms), attempts, hedged,
 * breaker state, error code, client identity, protocol and a gRPC call's grpc-status.
 */
import type { Logger } from './logger.js';

export interface AccessLogEntry {
  readonly requestId: string;
  readonly listener: string;
  readonly route: string | null;
  readonly upstream: string | null;
  readonly endpoint: string | null;
  readonly method: string;
  readonly path: string;
  readonly status: number;
  /** Milliseconds from request received to response fully sent (or client gone). */
  readonly duration: number;
  readonly attempts: number;
  readonly hedged: boolean;
  readonly breakerState: string | null;
  readonly errorCode: string | null;
  /** The verified client certificate's identity (TLS listeners with clientCa). */
  readonly clientIdentity: string | null;
  /** http1, h2, or grpc for a gRPC call. */
  readonly protocol: string;
  /** A gRPC call's grpc-status; null for other requests and for calls cut before it was sent. */
  readonly grpcStatus: number | null;
}

export interface AccessLog {
  write(entry: AccessLogEntry): void;
}

export function pinoAccessLog(logger: Logger): AccessLog {
  return {
    write(entry) {
      logger.info(entry);
    },
  };
}
