/** Generated request ids are random version-4 UUIDs, as crypto.randomUUID() makes. */
import t from 'tap';
import { newRequestId } from '../../src/http/request-id.js';

const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

t.test('ids are version-4 UUIDs, all different, across batches of random bytes', async (t) => {
  const ids = Array.from({ length: 2_000 }, () => newRequestId());
  t.ok(ids.every((id) => UUID_V4.test(id)), `every id is a version-4 UUID (first: ${ids[0]})`);
  t.equal(new Set(ids).size, ids.length, 'no id twice');
  // Each hex digit outside the fixed version and variant bits takes every value somewhere.
  const digits = new Set(ids.map((id) => id[0]));
  t.equal(digits.size, 16, 'the first digit takes all 16 values');
});
