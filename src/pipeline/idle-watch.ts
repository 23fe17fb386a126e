/**
 * Tells when a byte counter has stood still for `idleMs`. A timer per exchange, or one reset
 * per chunk, costs on every request of a busy sidecar; instead the watches of one idle period
 * share one sweeper that samples every watch's counter a few times per period. An exchange is
 * found idle at most a quarter period after `idleMs` without a moving counter. Per request
 * this is an object and a Set entry.
 */
import type { Clock } from '../util/clock.js';

/** Samples per idle period; the detection is late by at most idleMs / SAMPLES. */
const SAMPLES = 4;

export class IdleWatch {
  readonly read: () => number;
  readonly onIdle: () => void;
  last: number;
  movedAt: number;
  readonly #sweeper: Sweeper;

  constructor(clock: Clock, idleMs: number, read: () => number, onIdle: () => void) {
    this.read = read;
    this.onIdle = onIdle;
    this.last = read();
    this.movedAt = clock.now();
    this.#sweeper = sweeperFor(clock, idleMs);
    this.#sweeper.add(this);
  }

  stop(): void {
    this.#sweeper.delete(this);
  }
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
  readonly #watches = new Set<IdleWatch>();
  #timer: NodeJS.Timeout | undefined;

  constructor(clock: Clock, idleMs: number) {
    this.#clock = clock;
    this.#idleMs = idleMs;
  }

  add(watch: IdleWatch): void {
    this.#watches.add(watch);
    if (this.#timer === undefined) this.#schedule();
  }

  delete(watch: IdleWatch): void {
    this.#watches.delete(watch);
  }

  #schedule(): void {
    this.#timer = this.#clock.setTimeout(this.#sweep, Math.max(1, Math.ceil(this.#idleMs / SAMPLES)));
    // Sweeping is no reason to keep the process alive; the connections being watched are.
    this.#timer.unref?.();
  }

  readonly #sweep = (): void => {
    const now = this.#clock.now();
    for (const watch of this.#watches) {
      const value = watch.read();
      if (value !== watch.last) {
        watch.last = value;
        watch.movedAt = now;
      } else if (now - watch.movedAt >= this.#idleMs) {
        this.#watches.delete(watch);
        watch.onIdle();
      }
    }
    if (this.#watches.size > 0) this.#schedule();
    else this.#timer = undefined;
  };
}
