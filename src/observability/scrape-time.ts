/**
 * Series recorded on every request, kept in plain numbers and read by prom-client when
 * /metrics is scraped. A prom-client label child still hashes its label set into a string on
 * every inc() and observe(): the request counter, the duration histogram, the first-tries
 * counter and the in-flight gauge (two look-ups per request) allocated ~2.6 KB per request,
 * an eighth of all the proxy allocated, and took ~4% of its CPU (issue 16's profiles). Here a
 * request costs a few number additions.
 *
 * Counter and gauge hand their numbers to a prom-client metric in its `collect` hook. The
 * histogram has no such way in (prom-client can only observe one value at a time), so it is a
 * metric of its own that the registry formats like prom-client's (scrape-time.test.ts checks
 * the two expositions are identical).
 *
 * A child is made once per label set and kept (as prom-client keeps its series); asking again
 * for the same labels, after a reload say, returns the same child.
 */
import type { LabelValues } from 'prom-client';
import { Counter, Gauge, type Histogram, type Registry } from './prom.js';

/** One label set's count. */
export interface CountChild {
  inc(by?: number): void;
}

interface PendingChild<L extends string> extends CountChild {
  readonly labels: LabelValues<L>;
  /** Counted since the last scrape (counter), or the current value (gauge). */
  value: number;
  /** Counted at least once: a gauge series shows from its first change, even back at 0. */
  touched: boolean;
}

interface SeriesConfig<L extends string> {
  readonly name: string;
  readonly help: string;
  readonly labelNames: readonly L[];
  readonly registry: Registry;
}

class Children<L extends string> {
  readonly #byKey = new Map<string, PendingChild<L>>();
  readonly #labelNames: readonly L[];

  constructor(labelNames: readonly L[]) {
    this.#labelNames = labelNames;
  }

  get(values: readonly string[]): PendingChild<L> {
    const key = values.join('\0');
    let child = this.#byKey.get(key);
    if (child === undefined) {
      const labels = Object.fromEntries(this.#labelNames.map((name, i) => [name, values[i]])) as LabelValues<L>;
      child = {
        labels,
        value: 0,
        touched: false,
        inc(by = 1) {
          this.value += by;
          this.touched = true;
        },
      };
      this.#byKey.set(key, child);
    }
    return child;
  }

  values(): IterableIterator<PendingChild<L>> {
    return this.#byKey.values();
  }
}

/** A counter whose per-request increments reach prom-client at scrape time. */
export class ScrapeTimeCounter<L extends string> {
  readonly #children: Children<L>;

  constructor(config: SeriesConfig<L>) {
    const children = (this.#children = new Children(config.labelNames));
    new Counter<L>({
      name: config.name,
      help: config.help,
      labelNames: config.labelNames,
      registers: [config.registry],
      collect() {
        for (const child of children.values()) {
          if (child.value === 0) continue;
          this.inc(child.labels, child.value);
          child.value = 0;
        }
      },
    });
  }

  /** The child for these label values, in labelNames order. */
  labels(...values: string[]): CountChild {
    return this.#children.get(values);
  }
}

/** A gauge moved up and down per request (in flight), read by prom-client at scrape time. */
export class ScrapeTimeGauge<L extends string> {
  readonly #children: Children<L>;

  constructor(config: SeriesConfig<L>) {
    const children = (this.#children = new Children(config.labelNames));
    new Gauge<L>({
      name: config.name,
      help: config.help,
      labelNames: config.labelNames,
      registers: [config.registry],
      collect() {
        for (const child of children.values()) if (child.touched) this.set(child.labels, child.value);
      },
    });
  }

  labels(...values: string[]): CountChild {
    return this.#children.get(values);
  }
}

/** One label set's latency histogram. */
export interface ObserveChild {
  observe(value: number): void;
}

interface HistogramChild<L extends string> extends ObserveChild {
  readonly labels: LabelValues<L>;
  /** Observations per bucket, not cumulative; the last slot is above every bound (+Inf only). */
  readonly counts: number[];
  sum: number;
  count: number;
}

/**
 * A histogram with prom-client's exposition (the same `_bucket`, `_sum` and `_count` lines),
 * registered in its registry as one of its metrics.
 */
export class ScrapeTimeHistogram<L extends string> {
  readonly name: string;
  readonly help: string;
  readonly type = 'histogram' as const;
  readonly aggregator = 'sum' as const;
  readonly #labelNames: readonly L[];
  readonly #bounds: readonly number[];
  readonly #children = new Map<string, HistogramChild<L>>();

  constructor(config: SeriesConfig<L> & { readonly buckets: readonly number[] }) {
    this.name = config.name;
    this.help = config.help;
    this.#labelNames = config.labelNames;
    this.#bounds = [...config.buckets].sort((a, b) => a - b);
    // The registry takes any object with a name and get(); its types list prom-client's classes only.
    config.registry.registerMetric(this as unknown as Histogram<L>);
  }

  labels(...values: string[]): ObserveChild {
    const key = values.join('\0');
    let child = this.#children.get(key);
    if (child === undefined) {
      const bounds = this.#bounds;
      child = {
        labels: Object.fromEntries(this.#labelNames.map((name, i) => [name, values[i]])) as LabelValues<L>,
        counts: new Array<number>(bounds.length + 1).fill(0),
        sum: 0,
        count: 0,
        observe(value) {
          let slot = 0;
          while (slot < bounds.length && value > (bounds[slot] as number)) slot++;
          (this.counts[slot] as number) += 1;
          this.sum += value;
          this.count += 1;
        },
      };
      this.#children.set(key, child);
    }
    return child;
  }

  /** What the registry formats: prom-client's value list for a histogram. */
  async get(): Promise<ExportedMetric> {
    const values: ExportedValue[] = [];
    const bucket = `${this.name}_bucket`;
    for (const child of this.#children.values()) {
      if (child.count === 0) continue;
      const sharedLabels = child.labels;
      let cumulative = 0;
      this.#bounds.forEach((le, i) => {
        cumulative += child.counts[i] as number;
        values.push({ labels: { le }, sharedLabels, value: cumulative, metricName: bucket });
      });
      values.push({ labels: { le: '+Inf' }, sharedLabels, value: child.count, metricName: bucket });
      values.push({ labels: {}, sharedLabels, value: child.sum, metricName: `${this.name}_sum` });
      values.push({ labels: {}, sharedLabels, value: child.count, metricName: `${this.name}_count` });
    }
    return { name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator };
  }

  reset(): void {
    this.#children.clear();
  }
}

/** One exposition line as prom-client's registry reads it: its own labels, and the series' as shared labels. */
interface ExportedValue {
  readonly labels: Readonly<Record<string, string | number>>;
  readonly sharedLabels: object;
  readonly value: number;
  readonly metricName: string;
}

interface ExportedMetric {
  readonly name: string;
  readonly help: string;
  readonly type: 'histogram';
  readonly values: readonly ExportedValue[];
  readonly aggregator: 'sum';
}
