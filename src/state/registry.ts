/**
 * State that must outlive a reload: upstream pools now; breakers, budgets and latency
 * histograms as their patterns land. Entries are keyed by what identifies them (route name,
 * upstream name and the settings that shape them), so a reload that leaves a route or upstream
 * unchanged finds its state again, and one that changes it starts fresh.
 */
export interface Disposable {
  dispose(): void | Promise<void>;
}

/** What is kept: one kind per pattern's state. */
export type StateKind = 'upstream' | 'retry-budget' | 'hedge-budget' | 'latency' | 'circuit-breaker' | 'bulkhead' | 'shadow' | 'shadow-upstream' | 'scatter-stats' | 'passthrough';

/** A registry key, made only by `stateKey`, so every key has the same shape. */
export type StateKey = string & { readonly __stateKey: true };

/**
 * The key of one piece of state: its kind, then what identifies it (route, upstream, target
 * names) and the settings that shape it (a changed block gets fresh state). Parts are joined
 * with NUL, which no name or JSON text contains unescaped.
 */
export function stateKey(kind: StateKind, ...parts: readonly (string | number | object | undefined)[]): StateKey {
  return [kind, ...parts.map((p) => (typeof p === 'object' ? JSON.stringify(p) : String(p)))].join('\0') as StateKey;
}

export class StateRegistry {
  readonly #entries = new Map<StateKey, Disposable & { readonly value: unknown }>();
  #touched = new Set<StateKey>();

  /** The entry under `key`, created on first use. Marks it as used by the policy being built. */
  acquire<T>(key: StateKey, create: () => T, dispose: (value: T) => void | Promise<void> = () => {}): T {
    this.#touched.add(key);
    const existing = this.#entries.get(key);
    if (existing !== undefined) return existing.value as T;
    const value = create();
    this.#entries.set(key, { value, dispose: () => dispose(value) });
    return value;
  }

  /** Start building a new policy: nothing is marked used yet. */
  beginBuild(): void {
    this.#touched = new Set();
  }

  /** After a policy is swapped in: dispose of what it no longer uses. */
  async sweep(): Promise<void> {
    const stale = [...this.#entries].filter(([key]) => !this.#touched.has(key));
    for (const [key] of stale) this.#entries.delete(key);
    await Promise.all(stale.map(([, entry]) => entry.dispose()));
  }

  /** A failed build: forget what it created that the running policy does not use. */
  async abandonBuild(keep: ReadonlySet<StateKey>): Promise<void> {
    this.#touched = new Set(keep);
    await this.sweep();
  }

  keys(): ReadonlySet<StateKey> {
    return new Set(this.#touched);
  }

  async disposeAll(): Promise<void> {
    const all = [...this.#entries.values()];
    this.#entries.clear();
    await Promise.all(all.map((e) => e.dispose()));
  }
}
