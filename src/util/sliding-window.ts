/**
 * Counts of named series over a sliding window, in fixed buckets (Hystrix's and opossum's
 * scheme): a bucket is reused once it falls out of the window, so memory is constant and
 * adding costs one comparison and an increment. The one window of the sidecar: the breaker's
 * failure ratio (10 buckets of window/10), the retry and hedge budgets (ten 1 s buckets) and
 * scatter-gather targets' recent outcomes (sixty 1 s buckets). Time is passed in (the caller's
 * clock), so the window itself is plain arithmetic.
 */
export class SlidingWindow<S extends string> {
  readonly #bucketMs: number;
  /** The absolute bucket number each slot holds; -Infinity when empty (never inside a window). */
  readonly #epochs: number[];
  readonly #counts: Record<S, number[]>;

  constructor(windowMs: number, buckets: number, series: readonly S[]) {
    this.#bucketMs = Math.max(1, windowMs / buckets);
    this.#epochs = new Array<number>(buckets).fill(-Infinity);
    this.#counts = Object.fromEntries(series.map((name) => [name, new Array<number>(buckets).fill(0)])) as Record<S, number[]>;
  }

  add(now: number, series: S, n = 1): void {
    const slot = this.#slotFor(Math.floor(now / this.#bucketMs));
    const counts = this.#counts[series];
    counts[slot] = (counts[slot] as number) + n;
  }

  /** The total of `series` over the window ending now. */
  sum(now: number, series: S): number {
    const current = Math.floor(now / this.#bucketMs);
    const oldest = current - this.#epochs.length + 1;
    const counts = this.#counts[series];
    let total = 0;
    for (let slot = 0; slot < this.#epochs.length; slot++) {
      const epoch = this.#epochs[slot] as number;
      if (epoch >= oldest && epoch <= current) total += counts[slot] as number;
    }
    return total;
  }

  clear(): void {
    this.#epochs.fill(-Infinity);
  }

  #slotFor(epoch: number): number {
    const slot = epoch % this.#epochs.length;
    if (this.#epochs[slot] !== epoch) {
      this.#epochs[slot] = epoch;
      for (const counts of Object.values<number[]>(this.#counts)) counts[slot] = 0;
    }
    return slot;
  }
}
