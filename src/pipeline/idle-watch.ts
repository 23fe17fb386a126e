/**
 * Tells when a byte counter has stood still for `idleMs`. Rather than a timer reset per chunk
 * (a cost on every chunk of every body), one timer samples the counter a few times per period:
 * the exchange is idle at most a quarter period after the counter last moved plus `idleMs`.
 */
import type { Clock } from '../util/clock.js';

/** Samples per idle period; the detection is late by at most idleMs / SAMPLES. */
const SAMPLES = 4;

export class IdleWatch {
  readonly #clock: Clock;
  readonly #idleMs: number;
  readonly #read: () => number;
  readonly #onIdle: () => void;
  #last: number;
  #movedAt: number;
  #timer: NodeJS.Timeout | undefined;

  constructor(clock: Clock, idleMs: number, read: () => number, onIdle: () => void) {
    this.#clock = clock;
    this.#idleMs = idleMs;
    this.#read = read;
    this.#onIdle = onIdle;
    this.#last = read();
    this.#movedAt = clock.now();
    this.#schedule();
  }

  stop(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #schedule(): void {
    this.#timer = this.#clock.setTimeout(this.#sample, Math.max(1, Math.ceil(this.#idleMs / SAMPLES)));
    this.#timer.unref?.();
  }

  readonly #sample = (): void => {
    if (this.#timer === undefined) return;
    const now = this.#clock.now();
    const value = this.#read();
    if (value !== this.#last) {
      this.#last = value;
      this.#movedAt = now;
    } else if (now - this.#movedAt >= this.#idleMs) {
      this.#timer = undefined;
      this.#onIdle();
      return;
    }
    this.#schedule();
  };
}
