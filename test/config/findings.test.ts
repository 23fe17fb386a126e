import t from 'tap';
import { finding, listOf } from '../../src/config/findings.js';

t.test('listOf joins for messages', async (t) => {
  t.equal(listOf([], 'and'), '');
  t.equal(listOf(['a'], 'or'), 'a');
  t.equal(listOf(['a', 'b'], 'or'), 'a or b');
  t.equal(listOf(['a', 'b', 'c'], 'and'), 'a, b and c');
});

t.test('a finding carries its path, message and extras', async (t) => {
  t.same(finding(['routes', 0], 'bad'), { path: ['routes', 0], message: 'bad' });
  t.same(finding(['x'], 'm', { missingKey: 'k' }), { path: ['x'], message: 'm', missingKey: 'k' });
});
