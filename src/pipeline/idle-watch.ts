/**
 * Tells when an exchange has moved no bytes for `idleMs`. A timer per exchange, or one reset
 * per chunk, costs on every request of a busy sidecar; instead the watched exchanges of one
 * route share one sweeper (its timeout layer owns it, as it owns its deadline queue) that
 * samples each one's byte counter a few times per period.
 * An exchange is found idle at most a quarter period after `idleMs` without a moving counter.
 * Per request this is a list entry on an object the caller already has.
 */
import type { Clock } from '../util/clock.js';

/** What the sweeper watches; the fields after the two methods are the sweeper's bookkeeping. */
export interface IdleWatched {
  /** A counter that moves when bytes move (the client connection's bytes read and written). */
  idleBytes(): number;
  /** Called once, when the counter stood still for the whole period; the watch has ended. */
  onIdle(): void;
  idleLast: number;
  idleMovedAt: number;
  /** The sweeper it is in (undefined when not watched) and its neighbours in that sweeper's list. */
  idleSweeper: IdleSweeper | undefined;
  idleEarlier: IdleWatched | undefined;
  idleLater: IdleWatched | undefined;
}

/** Samples per idle period; the detection is late by at most idleMs / SAMPLES. */
const SAMPLES = 4;

/** Stop watching (the exchange finished); a no-op when not watched. */
export function unwatchIdle(watched: IdleWatched): void {
  watched.idleSweeper?.delete(watched);
}

/**
 * The watched exchanges of one period, in a list threaded through their own objects (as the
 * deadline queue does), not a Set: a Set's table is long-lived, so it sits in the old
 * generation, and each time it grows or compacts, the table it leaves behind still points to
 * the exchanges that were in flight then. Dead but uncollected until the next mark-compact, it
 * kept them, their requests and headers alive through every scavenge: 1.9 KB promoted per
 * request, about 7 µs of GC per request at full load (bench/RESULTS.md, issue 16). A removed
 * entry here is unlinked and its links cleared, so nothing old points at a finished exchange.
 */
export class IdleSweeper {
  readonly #clock: Clock;
  readonly #idleMs: number;
  #first: IdleWatched | undefined;
  #last: IdleWatched | undefined;
  #timer: NodeJS.Timeout | undefined;

  constructor(clock: Clock, idleMs: number) {
    this.#clock = clock;
    this.#idleMs = idleMs;
  }

  /** Start watching `watched` for this sweeper's period of stillness. */
  watch(watched: IdleWatched): void {
    watched.idleLast = watched.idleBytes();
    watched.idleMovedAt = this.#clock.now();
    watched.idleSweeper?.delete(watched);
    watched.idleSweeper = this;
    watched.idleEarlier = this.#last;
    watched.idleLater = undefined;
    if (this.#last === undefined) this.#first = watched;
    else this.#last.idleLater = watched;
    this.#last = watched;
    if (this.#timer === undefined) this.#schedule();
  }

  delete(watched: IdleWatched): void {
    if (watched.idleSweeper !== this) return;
    const { idleEarlier: earlier, idleLater: later } = watched;
    if (earlier === undefined) this.#first = later;
    else earlier.idleLater = later;
    if (later === undefined) this.#last = earlier;
    else later.idleEarlier = earlier;
    watched.idleSweeper = undefined;
    watched.idleEarlier = undefined;
    watched.idleLater = undefined;
  }

  #schedule(): void {
    this.#timer = this.#clock.setTimeout(this.#sweep, Math.max(1, Math.ceil(this.#idleMs / SAMPLES)));
    // Sweeping is no reason to keep the process alive; the connections being watched are.
    this.#timer.unref?.();
  }

  readonly #sweep = (): void => {
    const now = this.#clock.now();
    // Entries added during the sweep (by an onIdle) wait for the next one.
    const last = this.#last;
    for (let watched = this.#first, next: IdleWatched | undefined; watched !== undefined; watched = next) {
      // Gone already: another exchange's onIdle ended this one. The rest wait for the next sweep.
      if (watched.idleSweeper !== this) break;
      next = watched === last ? undefined : watched.idleLater;
      const value = watched.idleBytes();
      if (value !== watched.idleLast) {
        watched.idleLast = value;
        watched.idleMovedAt = now;
      } else if (now - watched.idleMovedAt >= this.#idleMs) {
        this.delete(watched);
        watched.onIdle();
      }
    }
    if (this.#first !== undefined) this.#schedule();
    else this.#timer = undefined;
  };
}
