import t from 'tap';
import { LineCounter, parseDocument } from 'yaml';
import { formatPath, SourceLocator } from '../../src/config/locate.js';
import { yaml } from './fixtures/policy.js';

function locatorFor(text: string): SourceLocator {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, merge: true });
  return new SourceLocator(doc, lineCounter);
}

const text = yaml`
  defaults:
    retry: &quick
      attempts: 2
      perTryTimout: 1s
  routes:
    - name: a
      retry:
        <<: *quick
        on: [503]
      hedge:
      bulkhead: *quick
    - name: "b.c"
      match: { pathPrefix: /x }
`;

t.test('paths are written as a reader would', async (t) => {
  t.equal(formatPath([]), '');
  t.equal(formatPath(['routes', 1, 'retry', 'attempts']), 'routes[1].retry.attempts');
  t.equal(formatPath(['upstreams', 'catalog-v2', 'endpoints', 0]), 'upstreams.catalog-v2.endpoints[0]');
  t.equal(formatPath(['match', 'headers', 'x-canary']), 'match.headers.x-canary');
  t.equal(formatPath(['upstreams', 'my.service']), 'upstreams["my.service"]');
  t.equal(formatPath(['upstreams', 'two words', 'balance']), 'upstreams["two words"].balance');
});

t.test('values are located where they are written', async (t) => {
  const at = locatorFor(text);
  t.same(at.valueAt([]), { line: 1, column: 1 });
  t.same(at.valueAt(['defaults', 'retry', 'attempts']), { line: 3, column: 15 });
  t.same(at.valueAt(['routes', 0]), { line: 6, column: 5 });
  t.same(at.valueAt(['routes', 0, 'retry', 'on', 0]), { line: 9, column: 12 });
  t.same(at.valueAt(['routes', 1, 'match', 'pathPrefix']), { line: 13, column: 26 });
});

t.test('an empty value is located at its key', async (t) => {
  t.same(locatorFor(text).valueAt(['routes', 0, 'hedge']), { line: 10, column: 5 });
});

t.test('keys are located at the key itself', async (t) => {
  const at = locatorFor(text);
  t.same(at.keyAt(['defaults', 'retry'], 'perTryTimout'), { line: 4, column: 5 });
  t.same(at.keyAt(['routes', 0], 'hedge'), { line: 10, column: 5 });
});

t.test('paths that exist only through a merge key or an alias fall back to the nearest ancestor', async (t) => {
  const at = locatorFor(text);
  // attempts came in through `<<: *quick`: point at the retry block of the route.
  t.same(at.valueAt(['routes', 0, 'retry', 'attempts']), { line: 8, column: 7 });
  t.same(at.keyAt(['routes', 0, 'retry'], 'perTryTimout'), { line: 8, column: 7 });
  // bulkhead: *quick: point at the alias.
  t.same(at.valueAt(['routes', 0, 'bulkhead', 'attempts']), { line: 11, column: 15 });
  t.same(at.valueAt(['nowhere', 3, 'deeper']), { line: 1, column: 1 });
});

t.test('originOf follows merge keys and aliases to the text a value comes from', async (t) => {
  const at = locatorFor(text);
  const anchored = at.originOf(['defaults', 'retry'], 'perTryTimout');
  t.type(anchored, 'number');
  t.equal(at.originOf(['routes', 0, 'retry'], 'perTryTimout'), anchored, 'through <<');
  t.equal(at.originOf(['routes', 0, 'bulkhead'], 'perTryTimout'), anchored, 'through an alias');
  t.equal(at.originOf(['routes', 0, 'retry', 'attempts']), at.originOf(['defaults', 'retry', 'attempts']));
  t.not(at.originOf(['routes', 0, 'retry', 'on']), undefined, 'own keys win over merged ones');
  t.equal(at.originOf(['routes', 0, 'retry'], 'missing'), undefined);
  t.equal(at.originOf(['routes', 7]), undefined);
});

t.test('an empty document is located at 1:1', async (t) => {
  t.same(locatorFor('').valueAt(['version']), { line: 1, column: 1 });
  t.same(locatorFor('').keyAt([], 'version'), { line: 1, column: 1 });
});
