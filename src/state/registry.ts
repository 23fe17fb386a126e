/**
 * State that must outlive a reload: upstream pools now; breakers, budgets and latency
 * histograms as their patterns land. Entries are keyed by what identifies them (route name,
 * upstream name and the settings that shape them), so a reload that leaves a route or upstream
 * unchanged finds its state again, and one that changes it starts fresh.
 */
export interface Disposable {
  dispose(): void | Promise<void>;
}

export class StateRegistry {
  readonly #entries = new Map<string, Disposable & { readonly value: unknown }>();
  #touched = new Set<string>();

  /** The entry under `key`, created on first use. Marks it as used by the policy being built. */
  acquire<T>(key: string, create: () => T, dispose: (value: T) => void | Promise<void> = () => {}): T {
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
  async abandonBuild(keep: ReadonlySet<string>): Promise<void> {
    this.#touched = new Set(keep);
    await this.sweep();
  }

  keys(): ReadonlySet<string> {
    return new Set(this.#touched);
  }

  async disposeAll(): Promise<void> {
    const all = [...this.#entries.values()];
    this.#entries.clear();
    await Promise.all(all.map((e) => e.dispose()));
  }
}
