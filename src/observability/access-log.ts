/**
 * One JSON line per request on stdout, with the fields of the contract: time, request id,
 * listener, route, upstream, endpoint, method, path, status, duration (ms), attempts, hedged,
 * breaker state, error code, client identity, protocol and a gRPC call's grpc-status.
 *
 * The line is the one pino wrote (`{"level":"info","time":…,"name":"access",…}`), but made
 * with one JSON.stringify and written in batches of BATCH_CHARS. Through pino the access log
 * allocated ~9 KB per request, more than the whole proxy path (issue 16's heap profile): pino
 * builds a line by concatenating each field, and its sonic-boom destination appended each
 * line to a pending string whose byte length it measured again on every write (flattening it).
 * Lines go out asynchronously, so a slow stdout pipe does not stall the event loop, and at
 * least every FLUSH_MS, so a quiet pod's lines still show up within a second; flushSync() on exit.
 */
import { pino } from 'pino';

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
  /** Write out every line still batched (on exit). */
  flushSync?(): void;
}

/** Where lines go: stdout's sonic-boom, or a test's capture. */
export interface LineDestination {
  write(chunk: string): unknown;
  flushSync?(): void;
}

/** Lines are handed to the destination once this many characters are waiting. */
const BATCH_CHARS = 4096;
/** How often waiting lines are handed over when fewer than BATCH_CHARS are waiting. */
const FLUSH_MS = 250;

/** The access log on stdout (fd 1), asynchronous, in batches. */
export function stdoutAccessLog(): AccessLog {
  const log = new JsonAccessLog(pino.destination({ fd: 1, sync: false }), BATCH_CHARS);
  setInterval(() => log.flush(), FLUSH_MS).unref();
  return log;
}

/** Formats each entry as one JSON line and hands lines to `destination`, `batchChars` at a time (0: each at once). */
export class JsonAccessLog implements AccessLog {
  readonly #destination: LineDestination;
  readonly #batchChars: number;
  #lines: string[] = [];
  #chars = 0;

  constructor(destination: LineDestination, batchChars = 0) {
    this.#destination = destination;
    this.#batchChars = batchChars;
  }

  write(entry: AccessLogEntry): void {
    // pino's layout: level, time and logger name first, then the entry's fields in their order.
    const line = `{"level":"info","time":"${isoTime()}","name":"access",${JSON.stringify(entry).slice(1)}\n`;
    this.#lines.push(line);
    this.#chars += line.length;
    if (this.#chars >= this.#batchChars) this.flush();
  }

  /** Hand the waiting lines to the destination, as one chunk. */
  flush(): void {
    if (this.#lines.length === 0) return;
    const chunk = this.#lines.length === 1 ? (this.#lines[0] as string) : this.#lines.join('');
    this.#lines = [];
    this.#chars = 0;
    this.#destination.write(chunk);
  }

  flushSync(): void {
    this.flush();
    try {
      this.#destination.flushSync?.();
    } catch {
      // stdout may already be closed on exit; nothing left to save.
    }
  }
}

let isoMs = -1;
let isoText = '';

/** The time as pino's isoTime writes it. Made once per millisecond: toISOString() cost as much as the rest of the line. */
function isoTime(): string {
  const now = Date.now();
  if (now !== isoMs) {
    isoMs = now;
    isoText = new Date(now).toISOString();
  }
  return isoText;
}
