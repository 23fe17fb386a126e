/**
 * The retry budget's arithmetic, on an injected clock: the floor (`minPerSecond`) is added to
 * the ratio's allowance (Linkerd's and Finagle's model), and the cap holds under an outage.
 * 50 requests a second for 30 s, every first try failing.
 */
import t from 'tap';
import { TryBudget } from '../../../src/policies/retry/budget.js';

function simulate(ratio: number, minPerSecond: number): { requests: number; retried: number } {
  let now = 1_000_000;
  const budget = new TryBudget(ratio, minPerSecond, { now: () => now });
  let requests = 0;
  let retried = 0;
  for (let tick = 0; tick < 30 * 50; tick++) {
    now += 20; // 50 requests per second
    budget.recordRequest();
    requests += 1;
    if (budget.tryWithdraw()) retried += 1;
  }
  return { requests, retried };
}

t.test('the floor adds to the ratio: ratio 0.9 + 10/s covers 50 req/s of failing first tries', async (t) => {
  const { requests, retried } = simulate(0.9, 10);
  // 0.9 x 500 + 10 x 10 = 550 extra tries per 10 s window, for 500 requests: every one retried.
  t.equal(retried, requests, `${retried} of ${requests} retried (the floor used to apply only to a quiet second: 95%)`);
});

t.test('the cap holds: ratio 0.2 + 10/s allows 20 retries a second at 50 req/s', async (t) => {
  const { requests, retried } = simulate(0.2, 10);
  const perSecond = retried / 30;
  t.ok(perSecond <= 0.2 * 50 + 10 + 100 / 30, `${perSecond.toFixed(1)} retries/s, within 20/s plus the first window's reserve`);
  t.ok(perSecond >= 19, `${perSecond.toFixed(1)} retries/s: the whole allowance is usable`);
  t.ok(retried < requests, 'not every request is retried');
});

t.test('a quiet route still retries thanks to the floor', async (t) => {
  let now = 0;
  const budget = new TryBudget(0.2, 2, { now: () => now });
  budget.recordRequest();
  t.ok(budget.tryWithdraw(), 'one request, one retry');
  t.equal(budget.snapshot().balance, 19, 'the floor is 2/s over the 10 s window, minus the one taken');
  now += 11_000;
  t.equal(budget.snapshot().balance, 20, 'the window moved on');
});

t.test('ratio plus floor over a sliding 10 s window', async (t) => {
  let now = 0;
  const budget = new TryBudget(0.2, 1, { now: () => now });
  for (let i = 0; i < 10; i++) budget.recordRequest();
  const allowed = Array.from({ length: 20 }, () => budget.tryWithdraw()).filter(Boolean).length;
  t.equal(allowed, 12, '20% of 10 requests plus 1/s over 10 s');
  now += 10_000;
  t.same(budget.snapshot().requests, 0, 'the window slid past the old requests');
  t.equal(budget.tryWithdraw(), true, 'and the allowance is back');
});
