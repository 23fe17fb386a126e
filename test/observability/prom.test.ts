/**
 * src/observability/prom.ts requires prom-client's parts one by one, and registers the default
 * metrics itself so as not to load OpenTelemetry. Nothing may change for a scraper: the same
 * metrics, types and help texts as prom-client's own collectDefaultMetrics, and CPU counters
 * that count.
 */
import { createRequire } from 'node:module';
import t from 'tap';
import { collectDefaultMetrics, Registry } from '../../src/observability/prom.js';

const promClient = createRequire(import.meta.url)('prom-client') as typeof import('prom-client');

type Shape = { name: string; type: string; help: string };
const shapes = async (registry: { getMetricsAsJSON(): Promise<unknown[]> | unknown[] }): Promise<Shape[]> =>
  ((await registry.getMetricsAsJSON()) as Shape[]).map(({ name, type, help }) => ({ name, type: String(type), help }));

t.test('the default metrics are prom-client\'s own, in its order', async (t) => {
  const ours = new Registry();
  collectDefaultMetrics({ register: ours, prefix: 'outrider_' });
  const theirs = new promClient.Registry();
  promClient.collectDefaultMetrics({ register: theirs, prefix: 'outrider_' });
  const [a, b] = [await shapes(ours), await shapes(theirs)];
  t.ok(b.length > 20, `prom-client registers ${b.length} default metrics`);
  t.same(a, b, 'same names, types and help texts, in the same order');
  // prom-client's event-loop monitor keeps a timer of its own; end both so the test can exit.
  ours.clear();
  theirs.clear();
});

t.test('the CPU counters count the process\'s CPU time', async (t) => {
  const registry = new Registry();
  const before = process.cpuUsage();
  collectDefaultMetrics({ register: registry, prefix: 'x_' });
  const value = async (name: string): Promise<number> => {
    const metric = registry.getSingleMetric(name) as unknown as { get(): Promise<{ values: { value: number }[] }> };
    return (await metric.get()).values[0]?.value ?? 0;
  };
  // 50 ms of CPU, however long that takes on a busy machine.
  while (process.cpuUsage(before).user < 50_000) Math.sqrt(Math.random());
  const spent = process.cpuUsage(before);
  const user = await value('x_process_cpu_user_seconds_total');
  const system = await value('x_process_cpu_system_seconds_total');
  const total = await value('x_process_cpu_seconds_total');
  const after = process.cpuUsage(before);
  t.ok(user >= spent.user / 1e6 - 0.005 && user <= after.user / 1e6, `user CPU counted: ${user} s, between ${spent.user / 1e6} and ${after.user / 1e6}`);
  t.ok(system <= after.system / 1e6, `system CPU counted: ${system} s, at most ${after.system / 1e6}`);
  t.ok(Math.abs(total - (user + system)) < 1e-9, `total ${total} = user ${user} + system ${system}`);
  registry.clear();
});
