/**
 * The per-request series counted in plain numbers must read on /metrics exactly as the
 * prom-client metrics they replace: same lines, same order, same values.
 */
import t from 'tap';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { ScrapeTimeCounter, ScrapeTimeGauge, ScrapeTimeHistogram } from '../../src/observability/scrape-time.js';

const BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

function pair() {
  const plain = new Registry();
  const scraped = new Registry();
  return {
    plain: {
      registry: plain,
      counter: new Counter({ name: 'c_total', help: 'a counter', labelNames: ['route', 'kind'], registers: [plain] }),
      gauge: new Gauge({ name: 'g', help: 'a gauge', labelNames: ['listener'], registers: [plain] }),
      histogram: new Histogram({ name: 'h_seconds', help: 'a "histogram"', labelNames: ['route', 'class'], buckets: BUCKETS, registers: [plain] }),
    },
    scraped: {
      registry: scraped,
      counter: new ScrapeTimeCounter({ name: 'c_total', help: 'a counter', labelNames: ['route', 'kind'], registry: scraped }),
      gauge: new ScrapeTimeGauge({ name: 'g', help: 'a gauge', labelNames: ['listener'], registry: scraped }),
      histogram: new ScrapeTimeHistogram({ name: 'h_seconds', help: 'a "histogram"', labelNames: ['route', 'class'], buckets: BUCKETS, registry: scraped }),
    },
  };
}

t.test('the exposition is prom-client’s, line for line', async (t) => {
  const { plain, scraped } = pair();
  t.equal(await scraped.registry.metrics(), await plain.registry.metrics(), 'nothing recorded: no series');

  const values = [0, 0.0001, 0.0005, 0.00051, 0.003, 0.7, 29.9, 30, 31, 1e6, 0.0123];
  for (const [i, v] of values.entries()) {
    const route = i % 3 === 0 ? 'b' : 'a "quoted"\\route';
    plain.histogram.labels(route, '2xx').observe(v);
    scraped.histogram.labels(route, '2xx').observe(v);
    plain.counter.labels(route, 'first').inc();
    scraped.counter.labels(route, 'first').inc();
  }
  plain.counter.labels('a', 'retry').inc(3);
  scraped.counter.labels('a', 'retry').inc(3);
  plain.gauge.labels('outbound').inc(1);
  plain.gauge.labels('outbound').inc(-1);
  scraped.gauge.labels('outbound').inc(1);
  scraped.gauge.labels('outbound').inc(-1);
  plain.gauge.labels('inbound').inc(2);
  scraped.gauge.labels('inbound').inc(2);
  scraped.histogram.labels('never', '5xx');
  scraped.counter.labels('never', 'hedge');
  t.equal(await scraped.registry.metrics(), await plain.registry.metrics(), 'after a first batch');

  plain.counter.labels('b', 'first').inc();
  scraped.counter.labels('b', 'first').inc();
  plain.histogram.labels('b', '5xx').observe(0.2);
  scraped.histogram.labels('b', '5xx').observe(0.2);
  t.equal(await scraped.registry.metrics(), await plain.registry.metrics(), 'a second scrape adds what came since the first');

  plain.histogram.reset();
  scraped.histogram.reset();
  t.equal(await scraped.registry.metrics(), await plain.registry.metrics(), 'a reset histogram has no series');
});

t.test('the same labels give the same child', async (t) => {
  const { scraped } = pair();
  t.equal(scraped.counter.labels('a', 'first'), scraped.counter.labels('a', 'first'));
  t.equal(scraped.histogram.labels('a', '2xx'), scraped.histogram.labels('a', '2xx'));
  t.not(scraped.counter.labels('a', 'first'), scraped.counter.labels('a', 'retry'));
});
