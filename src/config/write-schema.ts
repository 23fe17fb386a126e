/**
 * Writes schema/policy.schema.json from the TypeBox schema (run by `npm run build` as
 * dist/config/write-schema.js). The file is committed so editors and other tools can use it
 * without a build; test/config/schema.test.ts fails if it is out of date, so it is only ever
 * written by this script, never by hand.
 */
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { policyJsonSchemaText } from './schema.js';

// Two levels up from src/config/ or dist/config/ is the package root.
const target = fileURLToPath(new URL('../../schema/policy.schema.json', import.meta.url));
writeFileSync(target, policyJsonSchemaText());
process.stdout.write(`wrote ${target}\n`);
