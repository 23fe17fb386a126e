/**
 * Counts over a sliding window of whole seconds: one slot per second per series, the slots
 * that fall out of the window cleared as time moves on. Used for retry and hedge budgets
 * (10 s) and scatter-gather targets' recent outcomes (60 s).
 */
export class SlidingCounts<S extends string> {
  readonly #seconds: number;
  readonly #now: () => number;
  readonly #slots: Record<S, number[]>;
  #second = -1;

  constructor(seconds: number, series: readonly S[], now: () => number = Date.now) {
    this.#seconds = seconds;
    this.#now = now;
    this.#slots = Object.fromEntries(series.map((name) => [name, new Array<number>(seconds).fill(0)])) as Record<S, number[]>;
  }

  add(series: S, n = 1): void {
    const slot = this.#advance();
    const counts = this.#slots[series];
    counts[slot] = (counts[slot] as number) + n;
  }

  /** The total over the window. */
  sum(series: S): number {
    this.#advance();
    let total = 0;
    for (const v of this.#slots[series]) total += v;
    return total;
  }

  /** The count in the current second only. */
  current(series: S): number {
    return this.#slots[series][this.#advance()] as number;
  }

  /** Move the window to the current second, clearing the slots that fell out of it. */
  #advance(): number {
    const second = Math.floor(this.#now() / 1000);
    if (second !== this.#second) {
      const stale = this.#second < 0 ? this.#seconds : Math.min(this.#seconds, second - this.#second);
      for (let i = 1; i <= stale; i++) {
        const slot = (this.#second + i) % this.#seconds;
        for (const counts of Object.values<number[]>(this.#slots)) counts[slot] = 0;
      }
      this.#second = second;
    }
    return second % this.#seconds;
  }
}
