/**
 * The one clock the sidecar reads (Envoy passes a TimeSource the same way): monotonic
 * milliseconds and timers. Tests hand a layer a fake one to move time instead of sleeping.
 */
import { performance } from 'node:perf_hooks';

export interface Clock {
  /** Monotonic milliseconds (performance.now()). */
  now(): number;
  setTimeout(fn: () => void, ms: number): NodeJS.Timeout;
}

export const systemClock: Clock = {
  now: () => performance.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
};
