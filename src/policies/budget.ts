/**
 * A budget for extra tries (Linkerd's retry budget): extra tries may be at most `ratio` of the
 * requests seen over a sliding 10-second window, plus a floor of `minPerSecond` extra tries in
 * any one second so a quiet route can still retry. An outage therefore multiplies the load on
 * an upstream by at most (1 + ratio), never by `attempts`. Retry and hedge each keep one per
 * route (hedge with no floor). Counts live in ten 1-second buckets.
 */
import { SlidingCounts } from '../util/sliding-counts.js';

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
  readonly #counts: SlidingCounts<'requests' | 'extra'>;

  constructor(ratio: number, minPerSecond: number, now: () => number = Date.now) {
    this.ratio = ratio;
    this.minPerSecond = minPerSecond;
    this.#counts = new SlidingCounts(BUDGET_WINDOW_SECONDS, ['requests', 'extra'], now);
  }

  /** Every request the policy applies to, tried or not. */
  recordRequest(): void {
    this.#counts.add('requests');
  }

  /** Take one extra try from the budget; false when it is spent. */
  tryWithdraw(): boolean {
    const byRatio = this.#counts.sum('extra') < this.ratio * this.#counts.sum('requests');
    if (!byRatio && this.#counts.current('extra') >= this.minPerSecond) return false;
    this.#counts.add('extra');
    return true;
  }

  snapshot(): BudgetSnapshot {
    const requests = this.#counts.sum('requests');
    const extraTries = this.#counts.sum('extra');
    const byRatio = Math.floor(this.ratio * requests) - extraTries;
    const byFloor = this.minPerSecond - this.#counts.current('extra');
    return { requests, extraTries, balance: Math.max(0, byRatio, byFloor) };
  }
}
