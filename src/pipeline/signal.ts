/**
 * Cancellation for one exchange: AbortController's meaning (abort once, with a reason; tell
 * every listener) without its cost. An AbortController plus EventTarget listeners per request
 * measured ~7% of the proxy's CPU at full load (bench/RESULTS.md, "Profile"; latency follows
 * CPU per request), and every request needs one or two scopes. This is a plain object with an
 * array.
 */
export type AbortListener = (reason: Error) => void;

/**
 * The reason for work we stopped on purpose (the client went away, a hedge copy lost): not a
 * failure of the upstream, so neither the breaker nor outlier ejection counts it.
 */
export class Cancelled extends Error {
  override readonly name = 'Cancelled';
}

export interface Signal {
  readonly aborted: boolean;
  readonly reason: Error | undefined;
  /** Call `fn` once on abort (at once if already aborted). */
  onAbort(fn: AbortListener): void;
  offAbort(fn: AbortListener): void;
}

export class CancelScope implements Signal {
  #reason: Error | undefined;
  #listeners: AbortListener[] | undefined;

  get aborted(): boolean {
    return this.#reason !== undefined;
  }

  get reason(): Error | undefined {
    return this.#reason;
  }

  abort(reason: Error): void {
    if (this.#reason !== undefined) return;
    this.#reason = reason;
    const listeners = this.#listeners;
    this.#listeners = undefined;
    if (listeners !== undefined) for (const fn of listeners) fn(reason);
  }

  onAbort(fn: AbortListener): void {
    if (this.#reason !== undefined) fn(this.#reason);
    else (this.#listeners ??= []).push(fn);
  }

  offAbort(fn: AbortListener): void {
    const listeners = this.#listeners;
    if (listeners === undefined) return;
    const index = listeners.indexOf(fn);
    if (index !== -1) listeners.splice(index, 1);
  }

  /**
   * A scope aborted with this one, or on its own (a deadline, a hedge copy). Call the returned
   * `release` when the child is done, so a long-lived parent does not keep it.
   */
  static linkedTo(parent: Signal): { scope: CancelScope; release: () => void } {
    const scope = new CancelScope();
    const forward: AbortListener = (reason) => scope.abort(reason);
    parent.onAbort(forward);
    return { scope, release: () => parent.offAbort(forward) };
  }
}
