/**
 * The messages between the bench runner and the load-generator child process, and the shape of
 * a load job and its result. Kept free of imports so both sides (and the report) can share it.
 */

/** One stream of requests: a client with its own connections, headers and histograms. */
export interface StreamSpec {
  readonly name: string;
  readonly path: string;
  /** Extra request headers, e.g. `{ "x-tenant-id": "quiet" }`. */
  readonly headers?: Readonly<Record<string, string>>;
  /** `rate`: open loop at `rps` requests per second; `max`: closed loop, one request per connection. */
  readonly mode: { readonly kind: 'rate'; readonly rps: number } | { readonly kind: 'max' };
  readonly connections: number;
  /** Hard bound on requests issued by this stream (measurement and warm-up together). */
  readonly maxRequests: number;
  /**
   * A WebSocket per connection instead of HTTP requests: each connection upgrades at `path`
   * once, then every "request" is one binary message of `messageBytes` that must come back
   * byte for byte (an echo server). A verified echo counts as `2xx`, a wrong one as
   * `mismatch`, a refused upgrade as `upgrade:STATUS[:x-outrider-error]`.
   */
  readonly websocket?: { readonly messageBytes: number };
}

/** TLS for every connection of a job, the server verified against `ca` for `servername`. */
export interface TlsSpec {
  /** PEM of the CA that signed the server's certificate. */
  readonly ca: string;
  /** The name the certificate must carry (SNI and verification). */
  readonly servername: string;
}

export interface LoadJob {
  readonly label: string;
  readonly host: string;
  readonly port: number;
  readonly streams: readonly StreamSpec[];
  /** Requests intended during the first `warmupMs` are sent but not recorded. */
  readonly warmupMs: number;
  readonly durationMs: number;
  /** A request without a full response after this long is counted as `timeout` and its connection dropped. */
  readonly timeoutMs: number;
  /** Keep a per-request trace (intended time, latency, outcome) for timeline analysis. */
  readonly trace?: boolean;
  /** Speak TLS (keep-alive like plain HTTP); a handshake that fails, verification included, is a `tls` outcome. */
  readonly tls?: TlsSpec;
}

/** Percentiles in milliseconds. */
export interface LatencySummary {
  readonly count: number;
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly p999: number;
  readonly max: number;
  readonly mean: number;
}

export interface StreamResult {
  readonly name: string;
  /** Requests written to a socket after warm-up. */
  readonly sent: number;
  /** Responses fully received after warm-up (any status). */
  readonly completed: number;
  /** Completed responses per second over the measured window. */
  readonly achievedRps: number;
  /**
   * Outcome counts: `2xx`, `503`, `503:circuit-open` (with `x-outrider-error`), `connect`,
   * `tls`, `reset`, `timeout`, `unsent`; for WebSocket streams also `mismatch` and `upgrade:…`.
   */
  readonly outcomes: Readonly<Record<string, number>>;
  /** Sockets the stream opened (its pre-connected ones included): TLS handshakes, WebSocket upgrades. */
  readonly opened: number;
  /** Latency from the *intended* send time: corrected for coordinated omission. */
  readonly latency: LatencySummary;
  /** Latency from the moment the request was written: service time, for reference. */
  readonly service: LatencySummary;
  /** The corrected-latency histogram (µs), HdrHistogram compressed base64, for the report's spectrum. */
  readonly histogram: string;
  readonly trace?: Trace;
}

/** Per-request trace, columns of equal length. Times are ms relative to the job's `t0Epoch`. */
export interface Trace {
  readonly intendedMs: number[];
  readonly latencyMs: number[];
  readonly outcome: string[];
}

export interface LoadResult {
  readonly label: string;
  /** Wall-clock epoch (ms, sub-ms precision) of the start of the measured window. */
  readonly t0Epoch: number;
  readonly measuredMs: number;
  readonly streams: readonly StreamResult[];
}

export type ToWorker = { readonly type: 'run'; readonly job: LoadJob } | { readonly type: 'exit' };
export type FromWorker =
  | { readonly type: 'ready' }
  | { readonly type: 'result'; readonly result: LoadResult }
  | { readonly type: 'error'; readonly message: string };
