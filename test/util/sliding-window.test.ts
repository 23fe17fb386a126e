/** The one sliding window (breaker, budgets, scatter stats): buckets are reused once they leave it. */
import t from 'tap';
import { SlidingWindow } from '../../src/util/sliding-window.js';

t.test('buckets are reused once they leave the window', async (t) => {
  const counts = new SlidingWindow(1_000, 10, ['calls', 'failures']);
  const totals = (now: number) => ({ calls: counts.sum(now, 'calls'), failures: counts.sum(now, 'failures') });
  counts.add(0, 'calls');
  counts.add(0, 'failures');
  counts.add(150, 'calls');
  counts.add(950, 'calls');
  t.same(totals(999), { calls: 3, failures: 1 });
  t.same(totals(1_050), { calls: 2, failures: 0 }, 'the first bucket (0-99 ms) fell out');
  counts.add(1_000, 'calls'); // reuses the first bucket's slot, clearing every series in it
  counts.add(1_000, 'failures');
  t.same(totals(1_000), { calls: 3, failures: 1 });
  t.same(totals(5_000), { calls: 0, failures: 0 });
  counts.clear();
  t.same(totals(1_000), { calls: 0, failures: 0 });
});

t.test('one-second buckets over ten seconds (the budgets)', async (t) => {
  const counts = new SlidingWindow(10_000, 10, ['requests']);
  for (let s = 0; s < 15; s++) counts.add(s * 1000 + 500, 'requests', 2);
  t.equal(counts.sum(14_999, 'requests'), 20, 'the last ten seconds only');
});
