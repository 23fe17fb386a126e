/**
 * Per-request bookkeeping shared by every layer of one client request. Retry and hedge draw on
 * the same ledger (tries made, copies in flight, endpoints tried), so `retry.attempts` bounds
 * the tries in all and `hedge.maxAttempts` the copies in flight. The observe layer reads the
 * outcome fields for metrics and the access log.
 */
import type { ErrorCode } from '../errors.js';

const NONE_TRIED: readonly string[] = Object.freeze([]);

export class AttemptLedger {
  /** Tries sent upstream so far (first, retries and hedge copies). */
  tries = 0;
  /** Tries currently in flight (more than one only while hedging). */
  inFlight = 0;
  /** Tries allowed in all (retry.attempts), shared by retry and hedge; unbounded without retry. */
  maxTries = Infinity;
  /** When the route timeout fires (performance.now() ms), so waits can tell if they are pointless; Infinity until the request body is in. */
  deadline = Infinity;
  /** True when the winning response came from a hedge copy. */
  hedged = false;
  /** The upstream and endpoint that answered (or were last tried). */
  upstream: string | undefined;
  endpoint: string | undefined;
  /** Breaker state seen by the last try, for the access log. */
  breakerState: string | undefined;
  /** The sidecar's own error code, when it answered instead of the upstream. */
  errorCode: ErrorCode | 'client-closed' | undefined;
  status = 0;
  /** A gRPC call's grpc-status as answered (trailers-only headers or trailers); undefined until then. */
  grpcStatus: number | undefined;
  readonly startedAt: number;

  /** Origins already tried (none yet: the shared empty list). */
  #tried: string[] | undefined;
  // The first finisher needs no array, the second a list of one (pushing onto [] grows it to 17 slots).
  #finisher: (() => void) | undefined;
  #moreFinishers: (() => void)[] | undefined;
  #finished = false;

  constructor(startedAt: number) {
    this.startedAt = startedAt;
  }

  /** Origins already tried, so the next try can prefer another endpoint. */
  get endpointsTried(): readonly string[] {
    return this.#tried ?? NONE_TRIED;
  }

  /** True once the response has been fully written or the client went away. */
  get finished(): boolean {
    return this.#finished;
  }

  /** Run `fn` once when the response has been fully written or the client went away. */
  onFinish(fn: () => void): void {
    if (this.#finished) {
      fn();
      return;
    }
    if (this.#finisher === undefined) this.#finisher = fn;
    else if (this.#moreFinishers === undefined) this.#moreFinishers = [fn];
    else this.#moreFinishers.push(fn);
  }

  /** Called by the listener exactly once per request. */
  finish(): void {
    if (this.#finished) return;
    this.#finished = true;
    const first = this.#finisher;
    const more = this.#moreFinishers;
    // Let go of the finishers (and the timers, hedge copies and layers they hold) before they
    // run. A ledger that outlived two scavenges sits dead in the old generation until the next
    // mark-compact, and everything it points to stays alive with it, so every young object a
    // finisher reaches was copied and promoted too: 3.5 KB per request more with a hedge, GC
    // 19 against 7 µs per request at full load (bench/RESULTS.md, issue 16, "nepotism").
    this.#finisher = undefined;
    this.#moreFinishers = undefined;
    first?.();
    if (more !== undefined) for (const fn of more) fn();
  }

  recordTry(origin: string): void {
    this.tries += 1;
    this.endpoint = origin;
    if (this.#tried === undefined) this.#tried = [origin];
    else if (!this.#tried.includes(origin)) this.#tried.push(origin);
  }
}
