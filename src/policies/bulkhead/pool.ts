/**
 * The bulkhead's pools, free of HTTP: a pool is `maxConcurrent` slots and a queue of at most
 * `maxQueued` waiters, each waiting at most `queueTimeoutMs`; beyond that a request is refused
 * at once. Partitions give each key (a tenant) its own pool with the same limits.
 *
 * Why not p-limit as the core (design notes, §6 and "Library notes"): a waiter that gives up
 * (queue timeout, client gone) must leave the queue at once, so the next request sees the
 * right queue length; p-limit cannot drop one waiter (its `pendingCount` keeps counting it
 * until its turn comes). p-limit also frees a slot when the function's promise settles, while
 * ours is held until the response has been fully written, and it starts the next function on
 * a later tick. What remains of it would be a counter, so the pool is a counter plus a FIFO of
 * waiters: an insertion-ordered Set, which removes a waiter that gave up in O(1).
 */
import { systemClock, type Clock } from '../../util/clock.js';

export type RejectReason = 'queue-full' | 'queue-timeout';

/** What a pool reports to metrics; implemented by observability/metrics.ts. */
export interface BulkheadRecorder {
  inFlight(delta: 1 | -1): void;
  queued(delta: 1 | -1): void;
  rejected(reason: RejectReason): void;
  /** A keyed pool was created (+1) or evicted (-1). */
  partitions(delta: 1 | -1): void;
}

export interface PoolLimits {
  readonly maxConcurrent: number;
  readonly maxQueued: number;
  readonly queueTimeoutMs: number;
}

/** A refusal: the pool was full, or the wait in its queue passed the timeout. */
export class BulkheadRejection extends Error {
  readonly reason: RejectReason;
  constructor(reason: RejectReason, message: string) {
    super(message);
    this.name = 'BulkheadRejection';
    this.reason = reason;
  }
}

/** A queued request: called with the slot that release() took for it. */
type Waiter = () => void;

export interface CancelSource {
  onAbort(fn: (reason: Error) => void): void;
  offAbort(fn: (reason: Error) => void): void;
}

/** One pool: a slot counter and a FIFO of waiters. */
export class BulkheadPool {
  readonly key: string;
  readonly #limits: PoolLimits;
  readonly #recorder: BulkheadRecorder;
  readonly #onIdle: (pool: BulkheadPool) => void;
  readonly #waiters = new Set<Waiter>();
  #inFlight = 0;

  readonly #clock: Clock;

  constructor(key: string, limits: PoolLimits, recorder: BulkheadRecorder, onIdle: (pool: BulkheadPool) => void = () => {}, clock: Clock = systemClock) {
    this.#clock = clock;
    this.key = key;
    this.#limits = limits;
    this.#recorder = recorder;
    this.#onIdle = onIdle;
  }

  get inFlight(): number {
    return this.#inFlight;
  }

  get queued(): number {
    return this.#waiters.size;
  }

  /**
   * Take a slot now if one is free (true), else join the queue (a promise that resolves with
   * the slot, or rejects on queue timeout or when `signal` aborts). A full queue throws a
   * BulkheadRejection at once. Every granted slot must be given back with `release()`.
   */
  acquire(signal: CancelSource): true | Promise<void> {
    // Waiters are granted freed slots directly, so a free slot means an empty queue.
    if (this.#inFlight < this.#limits.maxConcurrent) {
      this.#take();
      return true;
    }
    if (this.#waiters.size >= this.#limits.maxQueued || this.#limits.queueTimeoutMs <= 0) {
      throw this.#reject('queue-full', `${this.#inFlight}/${this.#limits.maxConcurrent} in flight, ${this.#waiters.size}/${this.#limits.maxQueued} queued`);
    }
    return this.#wait(signal);
  }

  /** Give a slot back; the longest waiter gets it. A bound function, so it can be handed around as is. */
  readonly release = (): void => {
    this.#inFlight -= 1;
    this.#recorder.inFlight(-1);
    const next = this.#waiters.values().next();
    if (!next.done) {
      this.#take();
      next.value();
      return;
    }
    if (this.#inFlight === 0) this.#onIdle(this);
  };

  #take(): void {
    this.#inFlight += 1;
    this.#recorder.inFlight(1);
  }

  #wait(signal: CancelSource): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const leave = (): void => {
        this.#waiters.delete(waiter);
        this.#recorder.queued(-1);
        clearTimeout(timer);
        signal.offAbort(onAbort);
      };
      const onAbort = (reason: Error): void => {
        leave();
        this.#idleCheck();
        reject(reason);
      };
      const waiter: Waiter = () => {
        leave();
        resolve();
      };
      const timer = this.#clock.setTimeout(() => {
        leave();
        const { queueTimeoutMs, maxConcurrent, maxQueued } = this.#limits;
        reject(
          this.#reject(
            'queue-timeout',
            `waited ${queueTimeoutMs} ms in the queue (${this.#inFlight}/${maxConcurrent} in flight, ${this.#waiters.size}/${maxQueued} queued)`,
          ),
        );
        this.#idleCheck();
      }, this.#limits.queueTimeoutMs);
      this.#waiters.add(waiter);
      this.#recorder.queued(1);
      signal.onAbort(onAbort);
    });
  }

  #reject(reason: RejectReason, numbers: string): BulkheadRejection {
    this.#recorder.rejected(reason);
    return new BulkheadRejection(reason, numbers);
  }

  #idleCheck(): void {
    if (this.#inFlight === 0 && this.#waiters.size === 0) this.#onIdle(this);
  }
}

export interface PartitionSnapshot {
  readonly key: string;
  readonly inFlight: number;
  readonly queued: number;
}

/** The key used for requests without one (no header, or an empty value). */
export const DEFAULT_PARTITION = '(default)';
/** The key shared by every key beyond the partition limit. */
export const OVERFLOW_PARTITION = '(overflow)';

/**
 * One pool per key, each with the same limits. A keyed pool is created on first use and
 * dropped as soon as it is idle (an idle pool holds nothing a new one would not), so the map
 * holds only keys with requests in flight or queued, and never more than `maxPartitions`:
 * keys beyond that share the overflow pool. Requests without a key share the default pool.
 */
export class BulkheadPartitions {
  readonly #limits: PoolLimits;
  readonly #recorder: BulkheadRecorder;
  readonly #maxPartitions: number;
  /** Refusals since this set of pools was created, for /status. */
  readonly rejections: Record<RejectReason, number> = { 'queue-full': 0, 'queue-timeout': 0 };
  readonly #pools = new Map<string, BulkheadPool>();
  readonly #default: BulkheadPool;
  readonly #overflow: BulkheadPool;
  readonly #evict = (pool: BulkheadPool): void => {
    if (this.#pools.get(pool.key) !== pool) return;
    this.#pools.delete(pool.key);
    this.#recorder.partitions(-1);
  };

  readonly #clock: Clock;

  constructor(limits: PoolLimits, recorder: BulkheadRecorder, maxPartitions: number, clock: Clock = systemClock) {
    this.#clock = clock;
    this.#limits = limits;
    this.#recorder = {
      inFlight: (delta) => recorder.inFlight(delta),
      queued: (delta) => recorder.queued(delta),
      partitions: (delta) => recorder.partitions(delta),
      rejected: (reason) => {
        this.rejections[reason] += 1;
        recorder.rejected(reason);
      },
    };
    this.#maxPartitions = maxPartitions;
    this.#default = new BulkheadPool(DEFAULT_PARTITION, limits, this.#recorder, undefined, clock);
    this.#overflow = new BulkheadPool(OVERFLOW_PARTITION, limits, this.#recorder, undefined, clock);
  }

  /** Keyed pools that exist right now (busy ones). */
  get size(): number {
    return this.#pools.size;
  }

  poolFor(key: string | undefined): BulkheadPool {
    if (key === undefined || key === '') return this.#default;
    const existing = this.#pools.get(key);
    if (existing !== undefined) return existing;
    if (this.#pools.size >= this.#maxPartitions) return this.#overflow;
    const pool = new BulkheadPool(key, this.#limits, this.#recorder, this.#evict, this.#clock);
    this.#pools.set(key, pool);
    this.#recorder.partitions(1);
    return pool;
  }

  /** The busiest `limit` pools by in-flight then queued, the default and overflow included. */
  top(limit: number): PartitionSnapshot[] {
    const all = [this.#default, this.#overflow, ...this.#pools.values()];
    return all
      .filter((pool) => pool.inFlight > 0 || pool.queued > 0 || pool === this.#default)
      .sort((a, b) => b.inFlight - a.inFlight || b.queued - a.queued)
      .slice(0, limit)
      .map((pool) => ({ key: pool.key, inFlight: pool.inFlight, queued: pool.queued }));
  }

  totals(): { inFlight: number; queued: number } {
    let inFlight = this.#default.inFlight + this.#overflow.inFlight;
    let queued = this.#default.queued + this.#overflow.queued;
    for (const pool of this.#pools.values()) {
      inFlight += pool.inFlight;
      queued += pool.queued;
    }
    return { inFlight, queued };
  }
}
