/**
 * Outlier ejection (`upstreams.<name>.outlier`, Envoy's consecutive-failure detector): an
 * endpoint that fails `consecutiveFailures` tries in a row (5xx, connect failure, reset,
 * timeout) gets no tries for `ejectFor`, longer each time it is ejected again (ejectFor × n,
 * capped at MAX_EJECTION_MS), and never are more than `maxEjectedPercent` of an upstream's
 * endpoints out at once. Work we cancelled ourselves and the sidecar's own refusals are no
 * one's failure and leave the count alone.
 */
import { systemClock, type Clock } from '../util/clock.js';
import type { OutlierPolicy } from '../config/types.js';
import type { TryOutcome } from '../pipeline/outcome.js';

const MAX_EJECTION_MS = 300_000;

export interface OutlierTracked {
  readonly origin: string;
  available: boolean;
  consecutiveFailures: number;
  ejections: number;
  ejectedUntil: number;
}

export function isOutlierFailure(outcome: TryOutcome): boolean | undefined {
  switch (outcome.kind) {
    case 'status':
      return outcome.status >= 500;
    case 'connect-failure':
    case 'reset':
    case 'timeout':
      return true;
    default:
      return undefined;
  }
}

export class OutlierDetector {
  readonly #policy: OutlierPolicy;
  readonly #onEject: (origin: string, forMs: number) => void;
  readonly #clock: Clock;

  constructor(policy: OutlierPolicy, onEject: (origin: string, forMs: number) => void, clock: Clock = systemClock) {
    this.#policy = policy;
    this.#onEject = onEject;
    this.#clock = clock;
  }

  record(endpoint: OutlierTracked, outcome: TryOutcome, all: readonly OutlierTracked[]): void {
    const failed = isOutlierFailure(outcome);
    if (failed === undefined) return;
    if (!failed) {
      endpoint.consecutiveFailures = 0;
      return;
    }
    endpoint.consecutiveFailures += 1;
    if (endpoint.available && endpoint.consecutiveFailures >= this.#policy.consecutiveFailures && this.#mayEject(all)) {
      this.#eject(endpoint);
    }
  }

  #mayEject(all: readonly OutlierTracked[]): boolean {
    const ejected = all.filter((e) => !e.available).length;
    return ejected + 1 <= this.#policy.maxEjectedRatio * all.length;
  }

  #eject(endpoint: OutlierTracked): void {
    endpoint.ejections += 1;
    const forMs = Math.min(Math.max(this.#policy.ejectForMs, MAX_EJECTION_MS), this.#policy.ejectForMs * endpoint.ejections);
    endpoint.available = false;
    endpoint.ejectedUntil = this.#clock.now() + forMs;
    const timer = this.#clock.setTimeout(() => {
      endpoint.available = true;
      endpoint.consecutiveFailures = 0;
    }, forMs);
    timer.unref?.();
    this.#onEject(endpoint.origin, forMs);
  }
}
