/**
 * A budget for extra tries (Linkerd's and Finagle's retry budget): over a sliding 10-second
 * window, extra tries may be at most `ratio` of the requests seen plus `minPerSecond` for each
 * second of the window. The floor is added to the ratio's allowance (Finagle's reserve of
 * `minRetriesPerSec x ttl`), so a quiet route can still retry and a busy one gets both. An
 * outage therefore multiplies the load on an upstream by at most (1 + ratio) plus the floor,
 * never by `attempts`. Retry and hedge each keep one per route (hedge with no floor). Counts
 * live in ten 1-second buckets.
 */
import { systemClock, type Clock } from '../../util/clock.js';
import { SlidingWindow } from '../../util/sliding-window.js';

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
  readonly #counts: SlidingWindow<'requests' | 'extra'>;
  readonly #clock: Pick<Clock, 'now'>;

  constructor(ratio: number, minPerSecond: number, clock: Pick<Clock, 'now'> = systemClock) {
    this.ratio = ratio;
    this.minPerSecond = minPerSecond;
    this.#counts = new SlidingWindow(BUDGET_WINDOW_SECONDS * 1000, BUDGET_WINDOW_SECONDS, ['requests', 'extra']);
    this.#clock = clock;
  }

  /** Every request the policy applies to, tried or not. */
  recordRequest(): void {
    this.#counts.add(this.#clock.now(), 'requests');
  }

  /** Take one extra try from the budget; false when it is spent. */
  tryWithdraw(): boolean {
    if (this.#counts.sum(this.#clock.now(), 'extra') >= this.#allowance(this.#counts.sum(this.#clock.now(), 'requests'))) return false;
    this.#counts.add(this.#clock.now(), 'extra');
    return true;
  }

  snapshot(): BudgetSnapshot {
    const requests = this.#counts.sum(this.#clock.now(), 'requests');
    const extraTries = this.#counts.sum(this.#clock.now(), 'extra');
    return { requests, extraTries, balance: Math.max(0, Math.floor(this.#allowance(requests)) - extraTries) };
  }

  /** Extra tries the window allows for `requests`: the ratio's share plus the floor's. */
  #allowance(requests: number): number {
    return this.ratio * requests + this.minPerSecond * BUDGET_WINDOW_SECONDS;
  }
}
