/** The aggregation rules of scatter-gather, without HTTP: sorting, merging, reading bodies. */
import t from 'tap';
import { aggregatorFor, deepMerge, readBodyValue, sortedBy, type Json } from '../../../src/policies/scatter-gather/aggregate.js';
import { compilePathTemplate } from '../../../src/policies/scatter-gather/call.js';

t.test('sortedBy: numbers numerically, then strings, then items without a key; ties keep order', async (t) => {
  const items: Json[] = [{ k: 10 }, { k: 'b' }, { id: 'none' }, { k: 9 }, { k: 'a' }, { k: 10, second: true }, { k: null }];
  t.same(sortedBy(items, ['k'], 'asc'), [{ k: 9 }, { k: 10 }, { k: 10, second: true }, { k: 'a' }, { k: 'b' }, { id: 'none' }, { k: null }]);
  t.same(sortedBy(items, ['k'], 'desc'), [{ k: 10 }, { k: 10, second: true }, { k: 9 }, { k: 'b' }, { k: 'a' }, { id: 'none' }, { k: null }]);
  t.same(sortedBy([{ a: { b: 2 } }, { a: { b: 1 } }], ['a', 'b'], 'asc'), [{ a: { b: 1 } }, { a: { b: 2 } }], 'sortBy takes a dot path');
});

t.test('deepMerge: objects merge, everything else replaces, __proto__ stays data', async (t) => {
  const polluted = JSON.parse('{"__proto__": {"admin": true}, "x": {"y": 1}}') as { [key: string]: Json };
  const merged = deepMerge({ x: { z: 2 }, list: [1, 2] }, { ...polluted, list: [3] });
  t.same(JSON.parse(JSON.stringify(merged)), JSON.parse('{"x":{"z":2,"y":1},"list":[3],"__proto__":{"admin":true}}'));
  t.equal(Object.getPrototypeOf(merged), Object.prototype, 'the prototype was not replaced');
  t.equal(({} as { admin?: boolean }).admin, undefined);
});

t.test('readBodyValue: JSON by content type, or untyped bodies that parse', async (t) => {
  t.same(readBodyValue(Buffer.from('{"a":1}'), 'application/json; charset=utf-8'), { json: true, value: { a: 1 } });
  t.same(readBodyValue(Buffer.from('[1]'), 'application/problem+json'), { json: true, value: [1] });
  t.same(readBodyValue(Buffer.from('42'), undefined), { json: true, value: 42 });
  t.same(readBodyValue(Buffer.from('42'), 'text/plain'), { json: false, text: '42' }, 'text the upstream called text stays text');
  t.same(readBodyValue(Buffer.from('{oops'), 'application/json'), { json: false, text: '{oops' });
});

t.test('concat: limit without sortBy keeps target order', async (t) => {
  const concat = aggregatorFor({ targets: [], require: { kind: 'all' }, aggregate: 'concat', concat: { field: 'hits', sortBy: undefined, order: 'desc', limit: 3 } });
  const parts = ['{"hits":[1,2]}', '{"hits":[3,4]}'].map((body, i) => {
    const accepted = concat.accept(Buffer.from(body), 'application/json');
    if (!accepted.ok) throw new Error(accepted.message);
    return { name: `t${i}`, value: accepted.value };
  });
  t.same(concat.combine(parts), { hits: [1, 2, 3] });
  t.same(concat.accept(Buffer.from('{"hits":{}}'), undefined), { ok: false, message: 'concat needs an array at hits; found an object' });
});

t.test('path templates', async (t) => {
  const render = (template: string | undefined, path: string): string => compilePathTemplate(template, '/p/').render(path);
  t.equal(render('/x/{suffix}', '/p/a/b?q=1'), '/x/a/b?q=1');
  t.equal(render('/x/{suffix}', '/other'), '/x/', 'a path outside the prefix has an empty suffix');
  t.equal(compilePathTemplate('/x/{suffix}', undefined).render('/p/a'), '/x/', 'no pathPrefix: empty suffix');
  t.equal(render('/x?a=1&{query}', '/p/a'), '/x?a=1', 'the dangling & is dropped');
  t.equal(render('/{query}/constructor', '/p/a?z'), '/z/constructor', 'placeholders only; {query} used in the path takes the query as written');
  t.equal(render(undefined, '/p/a?z'), '/p/a?z');
});
