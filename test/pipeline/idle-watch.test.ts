/** The idle watch on an injected clock: moving bytes keep an exchange alive; standing ones end it within a quarter period. */
import t from 'tap';
import { unwatchIdle, watchIdle, type IdleWatched } from '../../src/pipeline/idle-watch.js';
import { fakeClock } from '../helpers/fake-clock.js';

function watched(bytes: () => number, onIdle: () => void): IdleWatched {
  return { idleBytes: bytes, onIdle, idleLast: 0, idleMovedAt: 0, idleSweeper: undefined, idleEarlier: undefined, idleLater: undefined };
}

t.test('idle after idleMs without a moving counter, not before, at most a quarter period late', async (t) => {
  const clock = fakeClock();
  let bytes = 0;
  let idleAt: number | undefined;
  const started = clock.now();
  watchIdle(clock, 400, watched(() => bytes, () => (idleAt = clock.now())));
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

t.test('a watch taken away never fires; watches of one period share a sweeper', async (t) => {
  const clock = fakeClock();
  const fired: string[] = [];
  const a = watched(() => 0, () => fired.push('a'));
  watchIdle(clock, 200, a);
  watchIdle(clock, 200, watched(() => 0, () => fired.push('b')));
  unwatchIdle(a);
  clock.advance(1000);
  t.same(fired, ['b'], 'only the running watch fired, once');
});

t.test('watches leave the list in any order; the rest fire once each, and a watch can be taken again', async (t) => {
  const clock = fakeClock();
  const fired: string[] = [];
  const all = ['a', 'b', 'c', 'd', 'e'].map((name) => ({ name, w: watched(() => 0, () => fired.push(name)) }));
  for (const { w } of all) watchIdle(clock, 200, w);
  for (const name of ['c', 'a', 'e']) unwatchIdle(all.find((x) => x.name === name)!.w);
  unwatchIdle(all[0]!.w); // a second time: a no-op
  clock.advance(1000);
  t.same(fired, ['b', 'd'], 'the middle, first and last taken out; the others fired');
  t.equal(all[1]!.w.idleSweeper, undefined, 'a fired watch has left the list');
  watchIdle(clock, 200, all[0]!.w);
  clock.advance(1000);
  t.same(fired, ['b', 'd', 'a']);
});

t.test('an idle exchange that ends another one during the sweep: that one never fires', async (t) => {
  const clock = fakeClock();
  const fired: string[] = [];
  const b = watched(() => 0, () => fired.push('b'));
  const a = watched(() => 0, () => {
    fired.push('a');
    unwatchIdle(b);
  });
  watchIdle(clock, 200, a);
  watchIdle(clock, 200, b);
  watchIdle(clock, 200, watched(() => 0, () => fired.push('c')));
  clock.advance(1000);
  t.same(fired, ['a', 'c']);
});
