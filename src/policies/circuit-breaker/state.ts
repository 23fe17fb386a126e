/**
 * The circuit breaker's state machine, free of HTTP: it admits or refuses calls, takes each
 * admitted call's verdict back, and moves between closed, open and half-open by the contract:
 *
 * - closed → open when, over the rolling `window`, at least `minRequests` calls have finished
 *   and failures / calls ≥ `failureRatio`;
 * - open → half-open once `openFor` has passed (checked when someone asks, so no timer runs);
 * - half-open admits exactly `halfOpenRequests` probes; it closes when all of them succeed and
 *   reopens on the first failure. Calls beyond the probes are refused as if open.
 *
 * Why not opossum (design notes, "Library notes"): its half-open state admits one call and
 * closes on the first success, where the contract wants N probes that must all succeed; its
 * ratio divides failures by `fires`, which include refused and still-running calls, and opens
 * only above the threshold (`>`), where the contract says `≥`; it has no notion of a slow call
 * that still answers; and its rolling window and reset timer run on real timers, so state
 * changes can only be tested by sleeping. What is left to reuse (an EventEmitter and a bucketed
 * counter) is smaller than the adapter that would bend it, so this is our own ~150 lines, with
 * time injected as a `Clock` and every transition reported to listeners.
 */
import type { CircuitBreakerPolicy } from '../../config/types.js';
import { SlidingWindow } from '../../util/sliding-window.js';
import { systemClock, type Clock as FullClock } from '../../util/clock.js';

export type BreakerState = 'closed' | 'open' | 'half-open';

/** The one clock (util/clock.ts): only its now() is read here. Injected so tests count, not sleep. */
type Clock = Pick<FullClock, 'now'>;

/** A call the breaker let through. Hand it back to `record` once the call has a verdict. */
export interface Admission {
  /** The breaker's generation when admitted: a verdict from an earlier state is stale. */
  readonly generation: number;
  readonly probe: boolean;
  readonly admittedAt: number;
}

/** `ignored`: the call says nothing about the upstream (it was cancelled from outside). */
export type Verdict = 'success' | 'failure' | 'ignored';

export type TransitionListener = (from: BreakerState, to: BreakerState) => void;

export type BreakerSettings = Pick<CircuitBreakerPolicy, 'failureRatio' | 'minRequests' | 'windowMs' | 'openForMs' | 'halfOpenRequests'>;

export interface BreakerSnapshot {
  readonly state: BreakerState;
  /** Finished calls and failures in the rolling window (closed state). */
  readonly calls: number;
  readonly failures: number;
  readonly failureRatio: number;
  /** While open: seconds until half-open; otherwise 0. */
  readonly secondsUntilHalfOpen: number;
  /** While half-open: probes allowed, in flight and succeeded. */
  readonly probes: { readonly allowed: number; readonly inFlight: number; readonly succeeded: number } | undefined;
  /** Why it last opened, with the numbers. */
  readonly lastOpened: string | undefined;
}

/** Buckets the window is divided into: the window slides by a tenth of its length. */
const WINDOW_BUCKETS = 10;

export class BreakerStateMachine {
  readonly #settings: BreakerSettings;
  readonly #clock: Clock;
  readonly #window: SlidingWindow<'calls' | 'failures'>;
  readonly #listeners: TransitionListener[] = [];
  #state: BreakerState = 'closed';
  #generation = 0;
  #openUntil = 0;
  #probesInFlight = 0;
  #probesSucceeded = 0;
  #lastOpened: string | undefined;

  constructor(settings: BreakerSettings, clock: Clock = systemClock) {
    this.#settings = settings;
    this.#clock = clock;
    this.#window = new SlidingWindow(settings.windowMs, WINDOW_BUCKETS, ['calls', 'failures']);
  }

  /** The current state, after moving from open to half-open if `openFor` has passed. */
  get state(): BreakerState {
    this.#advance(this.#clock.now());
    return this.#state;
  }

  onTransition(listener: TransitionListener): void {
    this.#listeners.push(listener);
  }

  /** Let a call through (closed, or a free probe while half-open), or refuse it (undefined). */
  admit(): Admission | undefined {
    const now = this.#clock.now();
    this.#advance(now);
    if (this.#state === 'closed') return { generation: this.#generation, probe: false, admittedAt: now };
    if (this.#state === 'open' || this.#probesInFlight + this.#probesSucceeded >= this.#settings.halfOpenRequests) return undefined;
    this.#probesInFlight += 1;
    return { generation: this.#generation, probe: true, admittedAt: now };
  }

  /** Milliseconds since the call was admitted (for slow-call detection). */
  elapsedMs(admission: Admission): number {
    return this.#clock.now() - admission.admittedAt;
  }

  /** The verdict of an admitted call. Verdicts of calls admitted before the last transition are dropped. */
  record(admission: Admission, verdict: Verdict): void {
    if (admission.generation !== this.#generation) return;
    const now = this.#clock.now();
    if (admission.probe) this.#recordProbe(now, verdict);
    else if (verdict !== 'ignored') this.#recordClosed(now, verdict === 'failure');
  }

  /** Milliseconds until half-open while open; 0 otherwise. */
  msUntilHalfOpen(): number {
    const now = this.#clock.now();
    this.#advance(now);
    return this.#state === 'open' ? Math.max(0, this.#openUntil - now) : 0;
  }

  snapshot(): BreakerSnapshot {
    const now = this.#clock.now();
    this.#advance(now);
    const calls = this.#window.sum(now, 'calls');
    const failures = this.#window.sum(now, 'failures');
    return {
      state: this.#state,
      calls,
      failures,
      failureRatio: calls === 0 ? 0 : failures / calls,
      secondsUntilHalfOpen: this.#state === 'open' ? Math.max(0, this.#openUntil - now) / 1000 : 0,
      probes:
        this.#state === 'half-open'
          ? { allowed: this.#settings.halfOpenRequests, inFlight: this.#probesInFlight, succeeded: this.#probesSucceeded }
          : undefined,
      lastOpened: this.#lastOpened,
    };
  }

  /** Why a call is refused right now, with the numbers (for the error message). */
  describeRefusal(): string {
    const now = this.#clock.now();
    if (this.#state === 'half-open') {
      const { halfOpenRequests } = this.#settings;
      return `circuit half-open: ${this.#probesInFlight + this.#probesSucceeded}/${halfOpenRequests} probes already admitted`;
    }
    const seconds = (Math.max(0, this.#openUntil - now) / 1000).toFixed(1);
    return `circuit open (${this.#lastOpened ?? 'opened'}); half-open in ${seconds} s`;
  }

  #recordClosed(now: number, failed: boolean): void {
    this.#window.add(now, 'calls');
    if (failed) this.#window.add(now, 'failures');
    const calls = this.#window.sum(now, 'calls');
    const failures = this.#window.sum(now, 'failures');
    const { minRequests, failureRatio, windowMs } = this.#settings;
    // Every finished call is checked, successes too: a success can bring the calls up to
    // minRequests while the ratio is already at the threshold.
    if (calls < minRequests || failures / calls < failureRatio) return;
    this.#open(
      now,
      `${failures} of ${calls} calls failed in ${windowMs / 1000} s: ratio ${round(failures / calls)} ≥ ${failureRatio}, minRequests ${minRequests}`,
    );
  }

  #recordProbe(now: number, verdict: Verdict): void {
    this.#probesInFlight -= 1;
    // A probe cancelled from outside frees its place for another probe.
    if (verdict === 'ignored') return;
    if (verdict === 'failure') {
      this.#open(now, `a half-open probe failed`);
      return;
    }
    this.#probesSucceeded += 1;
    if (this.#probesSucceeded >= this.#settings.halfOpenRequests) this.#moveTo('closed');
  }

  #open(now: number, reason: string): void {
    this.#openUntil = now + this.#settings.openForMs;
    this.#lastOpened = reason;
    this.#moveTo('open');
  }

  #advance(now: number): void {
    if (this.#state === 'open' && now >= this.#openUntil) this.#moveTo('half-open');
  }

  /** Every transition starts a new generation with an empty window and no probes. */
  #moveTo(next: BreakerState): void {
    const previous = this.#state;
    this.#state = next;
    this.#generation += 1;
    this.#window.clear();
    this.#probesInFlight = 0;
    this.#probesSucceeded = 0;
    for (const listener of this.#listeners) listener(previous, next);
  }
}

function round(ratio: number): number {
  return Math.round(ratio * 1000) / 1000;
}
