/**
 * The error catalogue (src/errors.ts) and the docs agree, both ways (fastify's
 * test/internals/errors.test.js habit): every code the sidecar answers with is in
 * docs/policy.md's table with the same status, every row of that table is in the catalogue,
 * and every recorded-only code is documented.
 */
import { readFileSync } from 'node:fs';
import t from 'tap';
import { ERROR_STATUS, RECORDED_CODES } from '../src/errors.js';

const policyDoc = readFileSync(new URL('../docs/policy.md', import.meta.url), 'utf8');
const section = policyDoc.slice(policyDoc.indexOf('## Errors the sidecar makes'), policyDoc.indexOf('## Validation errors'));

function rows(table: string): Map<string, string> {
  const found = new Map<string, string>();
  for (const match of table.matchAll(/^\| `([a-z-]+)` \| ([^|]*) \|/gm)) found.set(match[1] as string, (match[2] as string).trim());
  return found;
}

t.test('every answered code is documented with its status, and every documented one exists', async (t) => {
  const documented = rows(section.slice(0, section.indexOf('Codes recorded but never answered')));
  for (const [code, status] of Object.entries(ERROR_STATUS)) t.equal(documented.get(code), String(status), `${code}: ${status} in docs/policy.md`);
  for (const code of documented.keys()) t.ok(code in ERROR_STATUS, `docs/policy.md's ${code} is in src/errors.ts`);
});

t.test('every recorded-only code is documented, and no answered code hides among them', async (t) => {
  const documented = rows(section.slice(section.indexOf('Codes recorded but never answered')));
  t.same([...documented.keys()].sort(), Object.keys(RECORDED_CODES).sort(), 'the two lists are the same');
  for (const code of Object.keys(RECORDED_CODES)) t.notOk(code in ERROR_STATUS, `${code} is not also an answer`);
});
