/**
 * Tells when an exchange has moved no bytes for `idleMs`. A timer per exchange, or one reset
 * per chunk, costs on every request of a busy sidecar; instead the watched exchanges of one
 * idle period share one sweeper that samples each one's byte counter a few times per period.
 * An exchange is found idle at most a quarter period after `idleMs` without a moving counter.
 * Per request this is a Set entry on an object the caller already has.
 */
import type { Clock } from '../util/clock.js';

/** What the sweeper watches; the two fields are the sweeper's bookkeeping. */
export interface IdleWatched {
  /** A counter that moves when bytes move (the client connection's bytes read and written). */
  idleBytes(): number;
  /** Called once, when the counter stood still for the whole period; the watch has ended. */
  onIdle(): void;
  idleLast: number;
  idleMovedAt: number;
}

/** Samples per idle period; the detection is late by at most idleMs / SAMPLES. */
const SAMPLES = 4;

/** Start watching `watched` for `idleMs` of stillness. */
export function watchIdle(clock: Clock, idleMs: number, watched: IdleWatched): void {
  watched.idleLast = watched.idleBytes();
  watched.idleMovedAt = clock.now();
  sweeperFor(clock, idleMs).add(watched);
}

/** Stop watching (the exchange finished). */
export function unwatchIdle(clock: Clock, idleMs: number, watched: IdleWatched): void {
  sweepers.get(clock)?.get(idleMs)?.delete(watched);
}

/** The sweepers in use, per clock and idle period (a handful: one per distinct idleTimeout). */
const sweepers = new WeakMap<Clock, Map<number, Sweeper>>();

function sweeperFor(clock: Clock, idleMs: number): Sweeper {
  let byPeriod = sweepers.get(clock);
  if (byPeriod === undefined) sweepers.set(clock, (byPeriod = new Map()));
  let sweeper = byPeriod.get(idleMs);
  if (sweeper === undefined) byPeriod.set(idleMs, (sweeper = new Sweeper(clock, idleMs)));
  return sweeper;
}

class Sweeper {
  readonly #clock: Clock;
  readonly #idleMs: number;
  readonly #watched = new Set<IdleWatched>();
  #timer: NodeJS.Timeout | undefined;

  constructor(clock: Clock, idleMs: number) {
    this.#clock = clock;
    this.#idleMs = idleMs;
  }

  add(watched: IdleWatched): void {
    this.#watched.add(watched);
    if (this.#timer === undefined) this.#schedule();
  }

  delete(watched: IdleWatched): void {
    this.#watched.delete(watched);
  }

  #schedule(): void {
    this.#timer = this.#clock.setTimeout(this.#sweep, Math.max(1, Math.ceil(this.#idleMs / SAMPLES)));
    // Sweeping is no reason to keep the process alive; the connections being watched are.
    this.#timer.unref?.();
  }

  readonly #sweep = (): void => {
    const now = this.#clock.now();
    for (const watched of this.#watched) {
      const value = watched.idleBytes();
      if (value !== watched.idleLast) {
        watched.idleLast = value;
        watched.idleMovedAt = now;
      } else if (now - watched.idleMovedAt >= this.#idleMs) {
        this.#watched.delete(watched);
        watched.onIdle();
      }
    }
    if (this.#watched.size > 0) this.#schedule();
    else this.#timer = undefined;
  };
}
