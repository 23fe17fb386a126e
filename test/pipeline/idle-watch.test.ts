/** The idle watch on an injected clock: moving bytes keep an exchange alive; standing ones end it within a quarter period. */
import t from 'tap';
import { IdleWatch } from '../../src/pipeline/idle-watch.js';
import { fakeClock } from '../helpers/fake-clock.js';

t.test('idle after idleMs without a moving counter, not before, at most a quarter period late', async (t) => {
  const clock = fakeClock();
  let bytes = 0;
  let idleAt: number | undefined;
  const started = clock.now();
  new IdleWatch(clock, 400, () => bytes, () => (idleAt = clock.now()));
  for (let i = 0; i < 10; i++) {
    clock.advance(100);
    bytes += 1; // a byte every 100 ms: never idle
  }
  t.equal(idleAt, undefined, 'a counter that moves keeps it alive');
  const lastMove = clock.now();
  clock.advance(399);
  t.equal(idleAt, undefined, 'not idle before 400 ms without a byte');
  clock.advance(200);
  t.ok(idleAt !== undefined && idleAt - lastMove >= 400 && idleAt - lastMove <= 500, `idle ${String((idleAt ?? 0) - lastMove)} ms after the last byte`);
  t.ok(clock.now() - started > 1000);
});

t.test('a stopped watch never fires; watches of one period share a sweeper', async (t) => {
  const clock = fakeClock();
  const fired: string[] = [];
  const a = new IdleWatch(clock, 200, () => 0, () => fired.push('a'));
  new IdleWatch(clock, 200, () => 0, () => fired.push('b'));
  a.stop();
  clock.advance(1000);
  t.same(fired, ['b'], 'only the running watch fired, once');
});
