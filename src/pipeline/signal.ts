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
  // Most scopes have one listener (the layer or try inside): it needs no array.
  #listener: AbortListener | undefined;
  #more: AbortListener[] | undefined;

  get aborted(): boolean {
    return this.#reason !== undefined;
  }

  get reason(): Error | undefined {
    return this.#reason;
  }

  abort(reason: Error): void {
    if (this.#reason !== undefined) return;
    this.#reason = reason;
    const first = this.#listener;
    const more = this.#more;
    this.#listener = undefined;
    this.#more = undefined;
    first?.(reason);
    if (more !== undefined) for (const fn of more) fn(reason);
  }

  onAbort(fn: AbortListener): void {
    if (this.#reason !== undefined) fn(this.#reason);
    else if (this.#listener === undefined) this.#listener = fn;
    else if (this.#more === undefined) this.#more = [fn];
    else this.#more.push(fn);
  }

  offAbort(fn: AbortListener): void {
    if (this.#listener === fn) {
      this.#listener = this.#more?.shift();
      return;
    }
    const more = this.#more;
    if (more === undefined) return;
    const index = more.indexOf(fn);
    if (index !== -1) more.splice(index, 1);
  }

  /**
   * A scope aborted with this one, or on its own (a deadline, a hedge copy). Call its
   * `release()` when the child is done, so a long-lived parent does not keep it.
   */
  static linkedTo(parent: Signal): LinkedScope {
    return new LinkedScope(parent);
  }
}

/** A scope that follows its parent's abort until released: one object and one listener per link. */
export class LinkedScope extends CancelScope {
  readonly #parent: Signal;

  constructor(parent: Signal) {
    super();
    this.#parent = parent;
    parent.onAbort(this.#forward);
  }

  /** Stop following the parent (the child is done). */
  release(): void {
    this.#parent.offAbort(this.#forward);
  }

  readonly #forward: AbortListener = (reason) => this.abort(reason);
}
