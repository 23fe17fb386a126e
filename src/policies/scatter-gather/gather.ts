/**
 * Waiting for a scatter-gather request's calls, and deciding when the outcome is known.
 * `require` counts targets (docs/policy.md: an `allEndpoints` target is one target): a target
 * succeeds with its first successful call (a shard search that lost one shard still answered,
 * partially) and fails when all of its calls failed.
 *
 * - `any`: decided at the first successful call; pending calls are cancelled.
 * - `all` / quorum N: every call is awaited (each up to its own timeout, all within the route
 *   timeout), so the answer holds everything that came in time; but as soon as too many
 *   targets have failed for `require` to be met, the pending calls are cancelled.
 */
import type { ScatterRequire } from '../../config/types.js';
import type { Exchange } from '../../pipeline/layer.js';
import { Cancelled, CancelScope } from '../../pipeline/signal.js';
import type { Aggregator } from './aggregate.js';
import { runCall, type CallResult, type CallTarget, type PlannedCall } from './call.js';

export interface Rule {
  /** Targets that must succeed. */
  readonly need: number;
  /** all and quorum: await every call even once enough targets succeeded (any: answer at once). */
  readonly waitForAll: boolean;
}

export function ruleOf(require: ScatterRequire, targets: number): Rule {
  if (require.kind === 'any') return { need: 1, waitForAll: false };
  return { need: require.kind === 'all' ? targets : require.count, waitForAll: true };
}

export interface Gathered {
  /** One per call, in call order; calls not awaited are `cancelled`. */
  readonly results: readonly CallResult[];
  /** `require` was met. */
  readonly met: boolean;
}

export const NOT_AWAITED = 'not awaited: the outcome was already decided';

/** Start every call at once and collect the results once the outcome is decided. */
export function gather(calls: readonly PlannedCall[], exchange: Exchange, aggregator: Aggregator, rule: Rule): Promise<Gathered> {
  const scope = CancelScope.linkedTo(exchange.signal);
  const targetOf = targetIndexes(calls);
  const tally = new Tally(calls, targetOf, rule);
  const results: (CallResult | undefined)[] = calls.map(() => undefined);
  return new Promise((resolve) => {
    let decided = false;
    const decide = (): void => {
      decided = true;
      scope.abort(new Cancelled(NOT_AWAITED));
      scope.release();
      const all = calls.map((call, i) => results[i] ?? { ok: false as const, name: call.name, failure: { code: 'cancelled' as const, message: NOT_AWAITED } });
      resolve({ results: all, met: tally.met });
    };
    calls.forEach((call, i) => {
      // The client's ledger counts calls: the access log's `attempts`, x-outrider-attempts.
      exchange.ledger.tries += 1;
      void runCall(call, exchange, scope, aggregator).then((result) => {
        if (decided) return;
        results[i] = result;
        if (tally.add(targetOf[i] as number, result.ok)) decide();
      });
    });
  });
}

/** Each call's target as an index (calls of one target are adjacent, but need not be). */
function targetIndexes(calls: readonly PlannedCall[]): number[] {
  const indexes = new Map<CallTarget, number>();
  return calls.map((call) => {
    let index = indexes.get(call.target);
    if (index === undefined) indexes.set(call.target, (index = indexes.size));
    return index;
  });
}

/** Where the targets stand as calls come back. */
class Tally {
  readonly #rule: Rule;
  readonly #targets: number;
  /** Calls still pending, per target. */
  readonly #open: number[];
  readonly #ok: boolean[];
  #pending: number;
  #succeeded = 0;
  #failed = 0;

  constructor(calls: readonly PlannedCall[], targetOf: readonly number[], rule: Rule) {
    this.#rule = rule;
    this.#targets = new Set(targetOf).size;
    this.#open = new Array<number>(this.#targets).fill(0);
    for (const target of targetOf) this.#open[target] = (this.#open[target] as number) + 1;
    this.#ok = new Array<boolean>(this.#targets).fill(false);
    this.#pending = calls.length;
  }

  get met(): boolean {
    return this.#succeeded >= this.#rule.need;
  }

  /** Count one call's result; true once the outcome is decided. */
  add(target: number, ok: boolean): boolean {
    this.#pending -= 1;
    const open = (this.#open[target] as number) - 1;
    this.#open[target] = open;
    if (ok && !this.#ok[target]) {
      this.#ok[target] = true;
      this.#succeeded += 1;
    } else if (!this.#ok[target] && open === 0) {
      this.#failed += 1;
    }
    if (this.#targets - this.#failed < this.#rule.need) return true;
    if (this.met && !this.#rule.waitForAll) return true;
    return this.#pending === 0;
  }
}

/**
 * Targets whose every call failed for a reason other than time (a 5xx, a refused connection,
 * an unusable body, an open breaker). If these alone leave `require` reachable, then it was the
 * timeouts that made the difference.
 */
export function hardFailedTargets(calls: readonly PlannedCall[], results: readonly CallResult[]): number {
  const hard = new Map<CallTarget, boolean>();
  calls.forEach((call, i) => {
    const result = results[i] as CallResult;
    const isHard = !result.ok && result.failure.code !== 'timeout' && result.failure.code !== 'cancelled';
    hard.set(call.target, (hard.get(call.target) ?? true) && isHard);
  });
  let count = 0;
  for (const isHard of hard.values()) if (isHard) count += 1;
  return count;
}
