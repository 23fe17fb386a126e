/** A Clock whose time moves only when the test says so; due timers run in order as it moves. */
import type { Clock } from '../../src/util/clock.js';

export interface FakeClock extends Clock {
  /** Move time forward by `ms`, running every timer that falls due on the way. */
  advance(ms: number): void;
}

export function fakeClock(start = 1_000): FakeClock {
  let now = start;
  let timers: { at: number; fn: () => void; id: object }[] = [];
  return {
    now: () => now,
    setTimeout(fn, ms) {
      const id = { unref: () => id, ref: () => id, refresh: () => id, hasRef: () => false, [Symbol.toPrimitive]: () => 0 };
      timers.push({ at: now + ms, fn, id });
      return id as unknown as NodeJS.Timeout;
    },
    advance(ms) {
      const until = now + ms;
      for (;;) {
        timers.sort((a, b) => a.at - b.at);
        const next = timers[0];
        if (next === undefined || next.at > until) break;
        timers = timers.slice(1);
        now = next.at;
        next.fn();
      }
      now = until;
    },
  };
}
