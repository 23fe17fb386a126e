/**
 * Many requests' deadlines on one timer. A route's timeout, or its hedge delay, arms a deadline
 * for every request and nearly every one is cancelled a millisecond later when the answer
 * comes; a Node timer each cost ~300 bytes and a timer-list insertion and removal per request
 * (issue 16's heap profile). A layer keeps one queue instead: its deadlines in due order, in a
 * list threaded through the requests' own objects (so queuing allocates nothing), and one
 * timer armed for the first. Deadlines of one length arrive in due order, so adding one is a
 * step from the end; a cancelled one is unlinked, and the timer, left armed, finds nothing due
 * when it fires and re-arms for whatever is first then. That is Node's own per-duration timer
 * list, without the Timeout objects.
 *
 * The timer is unref'd: a request in flight holds its client connection open anyway.
 */
import type { Clock } from './clock.js';

/** What a queue holds: a request's own object, extended with the queue's bookkeeping. */
export abstract class Deadline {
  /** When it falls due, in the clock's milliseconds. */
  dueAt = 0;
  /** The queue it waits in; undefined when not waiting. */
  queuedIn: DeadlineQueue | undefined = undefined;
  earlier: Deadline | undefined = undefined;
  later: Deadline | undefined = undefined;

  /** Called once when due, unless removed first; it has left the queue by then. */
  abstract onDeadline(): void;
}

export class DeadlineQueue {
  readonly #clock: Clock;
  #first: Deadline | undefined;
  #last: Deadline | undefined;
  #timer: NodeJS.Timeout | undefined;
  /** When the armed timer fires; Infinity when none is armed. */
  #timerAt = Infinity;

  constructor(clock: Clock) {
    this.#clock = clock;
  }

  /** Call `entry.onDeadline()` in `ms`, unless removed first; an entry already waiting is moved. */
  add(entry: Deadline, ms: number): void {
    entry.queuedIn?.remove(entry);
    const dueAt = this.#clock.now() + ms;
    entry.dueAt = dueAt;
    entry.queuedIn = this;
    let before = this.#last;
    while (before !== undefined && before.dueAt > dueAt) before = before.earlier;
    const after = before === undefined ? this.#first : before.later;
    entry.earlier = before;
    entry.later = after;
    if (before === undefined) this.#first = entry;
    else before.later = entry;
    if (after === undefined) this.#last = entry;
    else after.earlier = entry;
    if (dueAt < this.#timerAt) this.#arm(dueAt);
  }

  /** Forget the entry (its request finished first); a no-op when it is not waiting here. */
  remove(entry: Deadline): void {
    if (entry.queuedIn !== this) return;
    const { earlier, later } = entry;
    if (earlier === undefined) this.#first = later;
    else earlier.later = later;
    if (later === undefined) this.#last = earlier;
    else later.earlier = earlier;
    entry.queuedIn = undefined;
    entry.earlier = undefined;
    entry.later = undefined;
  }

  #arm(at: number): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timerAt = at;
    // Node's timers count whole milliseconds from the loop's clock, which may lag now() by one.
    this.#timer = this.#clock.setTimeout(this.#fire, Math.max(1, Math.ceil(at - this.#clock.now())));
    this.#timer.unref?.();
  }

  readonly #fire = (): void => {
    this.#timer = undefined;
    this.#timerAt = Infinity;
    const now = this.#clock.now();
    for (let entry = this.#first; entry !== undefined && entry.dueAt <= now; entry = this.#first) {
      this.remove(entry);
      entry.onDeadline();
    }
    if (this.#first !== undefined && this.#timer === undefined) this.#arm(this.#first.dueAt);
  };
}
