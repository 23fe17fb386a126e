import t from 'tap';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { AttemptLedger } from '../../src/pipeline/exchange.js';

t.test('finish runs every finisher once, in order; one added later runs at once', async (t) => {
  const ledger = new AttemptLedger(0);
  const seen: string[] = [];
  for (const name of ['a', 'b', 'c']) ledger.onFinish(() => seen.push(name));
  ledger.finish();
  ledger.finish();
  t.same(seen, ['a', 'b', 'c']);
  ledger.onFinish(() => seen.push('late'));
  t.same(seen, ['a', 'b', 'c', 'late']);
});

/**
 * Why it matters: a ledger that was promoted keeps whatever it points to alive through every
 * scavenge until the next mark-compact, so finishers it still held (the timeout's timers, a
 * hedge's copies and their exchange) were copied and promoted with it (issue 16).
 */
t.test('a finished ledger lets go of its finishers and what they hold', async (t) => {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  const ledger = new AttemptLedger(0);
  const held: WeakRef<object>[] = [];
  const finisher = (): (() => void) => {
    const payload = { bytes: new Array<number>(1000).fill(1) };
    held.push(new WeakRef(payload));
    return () => void payload.bytes.length;
  };
  ledger.onFinish(finisher());
  ledger.onFinish(finisher());
  ledger.onFinish(finisher());
  ledger.finish();
  // WeakRef targets are kept until the current job ends: collect in a later one.
  await new Promise((resolve) => setImmediate(resolve));
  gc();
  t.same(held.map((ref) => ref.deref() === undefined), [true, true, true], 'collected while the ledger is still alive');
  t.equal(ledger.finished, true);
});
