/**
 * The one table of patterns (src/pipeline/layers.ts) and the docs agree: the layer order that
 * docs/policy.md and docs/architecture.md draw is the table's, and every pattern the table
 * lists has its page in docs/patterns/ and its key in docs/policy.md's route reference.
 */
import { existsSync, readFileSync } from 'node:fs';
import t from 'tap';
import { LAYER_ORDER, LAYERS, TERMINALS } from '../../src/pipeline/layers.js';

const read = (path: string): string => readFileSync(new URL(`../../${path}`, import.meta.url), 'utf8');
const kebab = (name: string): string => name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
/** Layers that are plumbing, not patterns a user configures on their own page. */
const CORE = new Set(['observe', 'timeout', 'bufferBody', 'perTryTimeout']);

t.test('docs/policy.md and docs/architecture.md draw the table’s order', async (t) => {
  const drawn = LAYER_ORDER.join(' → ');
  t.match(read('docs/policy.md'), `${drawn} → forward (or scatter-gather)`, 'docs/policy.md, "Order of the layers"');
  t.match(read('docs/architecture.md'), drawn, 'docs/architecture.md, "A request\'s trip"');
});

t.test('every pattern has its page and its key in the route reference', async (t) => {
  const routeKeys = read('docs/policy.md');
  const patterns = [...LAYERS, ...TERMINALS].filter((entry) => !CORE.has(entry.name) && entry.name !== 'forward');
  t.ok(patterns.length >= 6, `${patterns.length} patterns listed`);
  for (const { name, key } of patterns) {
    t.ok(existsSync(new URL(`../../docs/patterns/${kebab(name)}.md`, import.meta.url)), `docs/patterns/${kebab(name)}.md exists`);
    t.match(routeKeys, `| \`${key}\` |`, `docs/policy.md documents the route key ${key}`);
  }
});
