/**
 * What every answered request records: its count (by listener, route, upstream, status class
 * and protocol), its duration (by route, upstream and status class) and, for a gRPC call, its
 * grpc-status. Made once per listener and route by the observe layer; a request then costs an
 * array read and a few additions (the series count at scrape time, scrape-time.ts).
 */
import type { Counter } from 'prom-client';
import { GRPC_CODES } from '../grpc/status.js';
import type { CountChild, ObserveChild } from './scrape-time.js';

export const STATUS_CLASSES = ['1xx', '2xx', '3xx', '4xx', '5xx'] as const;

/** The protocol label: the client's HTTP version, or `grpc` for a gRPC call on either. */
export type RequestProtocol = 'http1' | 'h2' | 'grpc';

const PROTOCOL_SLOTS: Readonly<Record<RequestProtocol, number>> = { http1: 0, h2: 1, grpc: 2 };

export interface RequestRecorder {
  /** `grpcStatus` for a gRPC call whose status is known. */
  record(status: number, durationSeconds: number, protocol: RequestProtocol, grpcStatus: number | undefined): void;
}

/** The series a recorder writes to, by label values in their labelNames order. */
export interface RequestSeries {
  readonly requests: { labels(listener: string, route: string, upstream: string, statusClass: string, protocol: string): CountChild };
  readonly duration: { labels(route: string, upstream: string, statusClass: string): ObserveChild };
  readonly grpcCalls: { labels(route: string, upstream: string, grpcStatus: string): Counter.Internal };
}

export function requestRecorder(series: RequestSeries, listener: string, route: string, upstream: string): RequestRecorder {
  // Children made on first use, by protocol and status class: most routes see one protocol.
  const counters: (CountChild | undefined)[] = [];
  const histograms = STATUS_CLASSES.map((c) => series.duration.labels(route, upstream, c));
  const grpcCalls = new Map<number, Counter.Internal>();
  return {
    record(status, durationSeconds, protocol, grpcStatus) {
      const index = Math.min(4, Math.max(0, Math.floor(status / 100) - 1));
      const slot = PROTOCOL_SLOTS[protocol] * STATUS_CLASSES.length + index;
      const counter = (counters[slot] ??= series.requests.labels(listener, route, upstream, STATUS_CLASSES[index] as string, protocol));
      counter.inc();
      (histograms[index] as ObserveChild).observe(durationSeconds);
      if (grpcStatus === undefined) return;
      let calls = grpcCalls.get(grpcStatus);
      if (calls === undefined) grpcCalls.set(grpcStatus, (calls = series.grpcCalls.labels(route, upstream, grpcStatusLabel(grpcStatus))));
      calls.inc();
    },
  };
}

const GRPC_NAMES = new Map<number, string>(Object.entries(GRPC_CODES).map(([name, code]) => [code, name]));

/** A grpc-status as its canonical name; a code outside the table keeps its number (bounded: servers send 0-16). */
function grpcStatusLabel(code: number): string {
  return GRPC_NAMES.get(code) ?? (code < 100 ? String(code) : 'other');
}
