import t from 'tap';
import { CancelScope } from '../../src/pipeline/signal.js';

t.test('abort tells each listener once, with the first reason', async (t) => {
  const scope = new CancelScope();
  const seen: string[] = [];
  scope.onAbort((r) => seen.push(`a:${r.message}`));
  const removed = (r: Error): void => void seen.push(`b:${r.message}`);
  scope.onAbort(removed);
  scope.offAbort(removed);
  scope.abort(new Error('first'));
  scope.abort(new Error('second'));
  t.same(seen, ['a:first']);
  t.equal(scope.aborted, true);
  t.equal(scope.reason?.message, 'first');
  scope.onAbort((r) => seen.push(`late:${r.message}`));
  t.same(seen, ['a:first', 'late:first'], 'a listener added after the abort is called at once');
});

t.test('listeners are told in the order they came, whichever is removed', async (t) => {
  const scope = new CancelScope();
  const seen: string[] = [];
  const listener = (name: string) => (): void => void seen.push(name);
  const [a, b, c, d] = ['a', 'b', 'c', 'd'].map(listener) as [() => void, () => void, () => void, () => void];
  scope.onAbort(a);
  scope.onAbort(b);
  scope.onAbort(c);
  scope.offAbort(a);
  scope.onAbort(d);
  scope.offAbort(c);
  scope.offAbort(c);
  scope.abort(new Error('gone'));
  t.same(seen, ['b', 'd']);
  const alone = new CancelScope();
  alone.onAbort(a);
  alone.offAbort(a);
  alone.offAbort(b);
  alone.abort(new Error('gone'));
  t.same(seen, ['b', 'd'], 'a removed only listener is not told');
});

t.test('a linked scope aborts with its parent, and release detaches it', async (t) => {
  const parent = new CancelScope();
  const scope = CancelScope.linkedTo(parent);
  const other = CancelScope.linkedTo(parent);
  other.release();
  parent.abort(new Error('client gone'));
  t.equal(scope.reason?.message, 'client gone');
  t.equal(other.aborted, false, 'a released child is not aborted by its parent');
  scope.release();
  const own = CancelScope.linkedTo(new CancelScope());
  own.abort(new Error('deadline'));
  t.equal(own.aborted, true, 'a child can abort on its own');
});
