/**
 * A budget for extra tries (Linkerd's retry budget): extra tries may be at most `ratio` of the
 * requests seen over a sliding 10-second window, plus a floor of `minPerSecond` extra tries in
 * any one second so a quiet route can still retry. An outage therefore multiplies the load on
 * an upstream by at most (1 + ratio), never by `attempts`. Retry and hedge each keep one per
 * route (hedge with no floor). Counts live in ten 1-second buckets.
 */
export const BUDGET_WINDOW_SECONDS = 10;

export interface BudgetSnapshot {
  readonly requests: number;
  readonly extraTries: number;
  /** Extra tries still allowed right now. */
  readonly balance: number;
}

export class TryBudget {
  readonly ratio: number;
  readonly minPerSecond: number;
  readonly #now: () => number;
  readonly #requests = new Array<number>(BUDGET_WINDOW_SECONDS).fill(0);
  readonly #extra = new Array<number>(BUDGET_WINDOW_SECONDS).fill(0);
  #second = -1;

  constructor(ratio: number, minPerSecond: number, now: () => number = Date.now) {
    this.ratio = ratio;
    this.minPerSecond = minPerSecond;
    this.#now = now;
  }

  /** Every request the policy applies to, tried or not. */
  recordRequest(): void {
    const slot = this.#advance();
    this.#requests[slot] = (this.#requests[slot] ?? 0) + 1;
  }

  /** Take one extra try from the budget; false when it is spent. */
  tryWithdraw(): boolean {
    const slot = this.#advance();
    if (!this.#allows(slot)) return false;
    this.#extra[slot] = (this.#extra[slot] ?? 0) + 1;
    return true;
  }

  snapshot(): BudgetSnapshot {
    const slot = this.#advance();
    const requests = sum(this.#requests);
    const extraTries = sum(this.#extra);
    const byRatio = Math.floor(this.ratio * requests) - extraTries;
    const byFloor = this.minPerSecond - (this.#extra[slot] as number);
    return { requests, extraTries, balance: Math.max(0, byRatio, byFloor) };
  }

  #allows(slot: number): boolean {
    if (sum(this.#extra) < this.ratio * sum(this.#requests)) return true;
    return (this.#extra[slot] as number) < this.minPerSecond;
  }

  /** Move the window to the current second, clearing the buckets that fell out of it. */
  #advance(): number {
    const second = Math.floor(this.#now() / 1000);
    if (second !== this.#second) {
      const stale = this.#second < 0 ? BUDGET_WINDOW_SECONDS : Math.min(BUDGET_WINDOW_SECONDS, second - this.#second);
      for (let i = 1; i <= stale; i++) {
        const slot = (this.#second + i) % BUDGET_WINDOW_SECONDS;
        this.#requests[slot] = 0;
        this.#extra[slot] = 0;
      }
      this.#second = second;
    }
    return second % BUDGET_WINDOW_SECONDS;
  }
}

function sum(values: readonly number[]): number {
  let total = 0;
  for (const v of values) total += v;
  return total;
}
