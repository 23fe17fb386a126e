/** One timer for many deadlines: each falls due on time, in due order, unless removed first. */
import t from 'tap';
import { Deadline, DeadlineQueue } from '../../src/util/deadline-queue.js';
import { systemClock } from '../../src/util/clock.js';
import { fakeClock } from '../helpers/fake-clock.js';

class Entry extends Deadline {
  readonly name: string;
  readonly #fired: (name: string) => void;
  constructor(name: string, fired: (name: string) => void) {
    super();
    this.name = name;
    this.#fired = fired;
  }
  onDeadline(): void {
    this.#fired(this.name);
  }
}

t.test('deadlines fall due in due order, each at its time', async (t) => {
  const clock = fakeClock();
  const queue = new DeadlineQueue(clock);
  const fired: string[] = [];
  const at = (name: string) => new Entry(name, (n) => fired.push(`${n}@${clock.now() - 1_000}`));
  queue.add(at('a'), 100);
  clock.advance(10);
  queue.add(at('b'), 100);
  queue.add(at('short'), 20);
  queue.add(at('long'), 500);
  clock.advance(40);
  t.same(fired, ['short@30'], 'a shorter deadline added later falls due first');
  clock.advance(100);
  t.same(fired, ['short@30', 'a@100', 'b@110']);
  clock.advance(1_000);
  t.same(fired, ['short@30', 'a@100', 'b@110', 'long@510']);
});

t.test('a removed deadline never falls due; one added again moves', async (t) => {
  const clock = fakeClock();
  const queue = new DeadlineQueue(clock);
  const fired: string[] = [];
  const a = new Entry('a', (n) => fired.push(n));
  const b = new Entry('b', (n) => fired.push(n));
  const c = new Entry('c', (n) => fired.push(n));
  queue.add(a, 100);
  queue.add(b, 100);
  queue.add(c, 100);
  queue.remove(b);
  queue.remove(b);
  queue.add(a, 300);
  t.equal(b.queuedIn, undefined);
  clock.advance(200);
  t.same(fired, ['c'], 'b was removed, a moved later');
  queue.remove(a);
  queue.remove(c);
  clock.advance(500);
  t.same(fired, ['c']);
  const other = new DeadlineQueue(clock);
  queue.add(a, 10);
  other.add(a, 50);
  clock.advance(20);
  t.same(fired, ['c'], 'adding to another queue leaves the first');
  clock.advance(40);
  t.same(fired, ['c', 'a']);
});

t.test('a deadline may add another as it falls due', async (t) => {
  const clock = fakeClock();
  const queue = new DeadlineQueue(clock);
  const fired: number[] = [];
  let count = 0;
  const again: Entry = new Entry('again', () => {
    fired.push(clock.now() - 1_000);
    if (++count < 3) queue.add(again, 50);
  });
  queue.add(again, 50);
  clock.advance(1_000);
  t.same(fired, [50, 100, 150]);
});

t.test('on the real clock, a deadline is not early', async (t) => {
  const queue = new DeadlineQueue(systemClock);
  // The queue's timer is unref'd (a request in flight keeps its connection open); this one stands in.
  const alive = setTimeout(() => undefined, 5_000);
  const started = performance.now();
  const elapsed = await new Promise<number>((resolve) => queue.add(new Entry('x', () => resolve(performance.now() - started)), 30));
  clearTimeout(alive);
  t.ok(elapsed >= 30, `fell due after ${elapsed.toFixed(1)} ms`);
});
