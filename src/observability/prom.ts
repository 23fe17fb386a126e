/**
 * The parts of prom-client the sidecar uses, each required alone.
 *
 * Why: prom-client's index also loads its Pushgateway (node:https, zlib), the cluster
 * aggregator (node:cluster) and Summary (tdigest), and its default CPU metric loads
 * @opentelemetry/api (51 modules) for exemplars, which we never turn on. Without them a
 * registry with the default metrics costs 7 MiB less RSS on Node 24.22 (bare require of the
 * index with collectDefaultMetrics: 65 MiB; these modules alone: 52 MiB), and the sidecar about
 * 3 MiB less at idle. prom-client has no `exports` map, so its lib/ files are its public layout;
 * test/observability/prom.test.ts fails if an upgrade moves them or changes the default set.
 */
import { createRequire } from 'node:module';
import type * as PromClient from 'prom-client';

const require = createRequire(import.meta.url);
const lib = (path: string): unknown => require(`prom-client/lib/${path}.js`);

export const Registry = lib('registry') as typeof PromClient.Registry;
export type Registry = PromClient.Registry;
export const Counter = lib('counter') as typeof PromClient.Counter;
export type Counter<T extends string = string> = PromClient.Counter<T>;
// Types only (metrics.ts caches label children as Counter.Internal); nothing at run time.
// eslint-disable-next-line @typescript-eslint/no-namespace
export declare namespace Counter {
  type Internal = PromClient.Counter.Internal;
}
export const Gauge = lib('gauge') as typeof PromClient.Gauge;
export type Gauge<T extends string = string> = PromClient.Gauge<T>;
export const Histogram = lib('histogram') as typeof PromClient.Histogram;
export type Histogram<T extends string = string> = PromClient.Histogram<T>;

type DefaultMetric = (registry: Registry, config: Record<string, unknown>) => void;

/**
 * prom-client 15's default metrics (lib/defaultMetrics.js), in its order, processCpuTotal
 * excepted: processCpuSeconds below registers the same three counters without loading
 * OpenTelemetry.
 */
export const DEFAULT_METRIC_MODULES: readonly string[] = [
  'processStartTime',
  'osMemoryHeap',
  'processOpenFileDescriptors',
  'processMaxFileDescriptors',
  'eventLoopLag',
  ...(typeof process.getActiveResourcesInfo === 'function' ? ['processResources'] : []),
  'processHandles',
  'processRequests',
  'heapSizeAndUsed',
  'heapSpacesSizeAndUsed',
  'version',
  'gc',
];

/** What prom-client's collectDefaultMetrics registers, under the same names and help texts. */
export function collectDefaultMetrics(config: { readonly register: Registry; readonly prefix: string }): void {
  processCpuSeconds(config.register, config.prefix);
  // prom-client's own default for the event-loop histogram's resolution (ms).
  const options = { eventLoopMonitoringPrecision: 10, ...config };
  for (const name of DEFAULT_METRIC_MODULES) (lib(`metrics/${name}`) as DefaultMetric)(config.register, options);
}

/** prom-client's processCpuTotal without exemplars: CPU seconds since start, read at scrape. */
function processCpuSeconds(registry: Registry, prefix: string): void {
  let last = process.cpuUsage();
  const registers = [registry];
  const user = new Counter({
    name: `${prefix}process_cpu_user_seconds_total`,
    help: 'Total user CPU time spent in seconds.',
    registers,
    collect() {
      const now = process.cpuUsage();
      const userSeconds = (now.user - last.user) / 1e6;
      const systemSeconds = (now.system - last.system) / 1e6;
      last = now;
      user.inc(userSeconds);
      system.inc(systemSeconds);
      total.inc(userSeconds + systemSeconds);
    },
  });
  const system = new Counter({ name: `${prefix}process_cpu_system_seconds_total`, help: 'Total system CPU time spent in seconds.', registers });
  const total = new Counter({ name: `${prefix}process_cpu_seconds_total`, help: 'Total user and system CPU time spent in seconds.', registers });
}
