/** The idle watch on an injected clock: moving bytes keep an exchange alive; standing ones end it within a quarter period. */
import t from 'tap';
import { IdleSweeper, unwatchIdle, type IdleWatched } from '../../src/pipeline/idle-watch.js';
import { fakeClock } from '../helpers/fake-clock.js';

function watched(bytes: () => number, onIdle: () => void): IdleWatched {
  return { idleBytes: bytes, onIdle, idleLast: 0, idleMovedAt: 0, idleSweeper: undefined, idleEarlier: undefined, idleLater: undefined };
}

t.test('idle after idleMs without a moving counter, not before, at most a quarter period late', async (t) => {
  const clock = fakeClock();
  let bytes = 0;
  let idleAt: number | undefined;
  const started = clock.now();
  new IdleSweeper(clock, 400).watch(watched(() => bytes, () => (idleAt = clock.now())));
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

t.test('a watch taken away never fires; the others of its sweeper do', async (t) => {
  const clock = fakeClock();
  const fired: string[] = [];
  const sweeper = new IdleSweeper(clock, 200);
  const a = watched(() => 0, () => fired.push('a'));
  sweeper.watch(a);
  sweeper.watch(watched(() => 0, () => fired.push('b')));
  unwatchIdle(a);
  clock.advance(1000);
  t.same(fired, ['b'], 'only the running watch fired, once');
});

t.test('watches leave the list in any order; the rest fire once each, and a watch can be taken again', async (t) => {
  const clock = fakeClock();
  const fired: string[] = [];
  const all = ['a', 'b', 'c', 'd', 'e'].map((name) => ({ name, w: watched(() => 0, () => fired.push(name)) }));
  const sweeper = new IdleSweeper(clock, 200);
  for (const { w } of all) sweeper.watch(w);
  for (const name of ['c', 'a', 'e']) unwatchIdle(all.find((x) => x.name === name)!.w);
  unwatchIdle(all[0]!.w); // a second time: a no-op
  clock.advance(1000);
  t.same(fired, ['b', 'd'], 'the middle, first and last taken out; the others fired');
  t.equal(all[1]!.w.idleSweeper, undefined, 'a fired watch has left the list');
  sweeper.watch(all[0]!.w);
  clock.advance(1000);
  t.same(fired, ['b', 'd', 'a']);
});

t.test('an idle exchange that ends another one during the sweep: that one never fires', async (t) => {
  const clock = fakeClock();
  const fired: string[] = [];
  const sweeper = new IdleSweeper(clock, 200);
  const b = watched(() => 0, () => fired.push('b'));
  const a = watched(() => 0, () => {
    fired.push('a');
    unwatchIdle(b);
  });
  sweeper.watch(a);
  sweeper.watch(b);
  sweeper.watch(watched(() => 0, () => fired.push('c')));
  clock.advance(1000);
  t.same(fired, ['a', 'c']);
});
