/**
 * Writes schema/policy.schema.json from the TypeBox schema, and dist/config/policy-validator.cjs
 * (the same schema as precompiled Ajv code), run by `npm run build` as
 * dist/config/write-schema.js. The file is committed so editors and other tools can use it
 * without a build; test/config/schema.test.ts fails if it is out of date, so it is only ever
 * written by this script, never by hand.
 */
import { writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { createPolicyAjv, PRECOMPILED_VALIDATOR } from './schema-findings.js';
import { policyJsonSchema, policyJsonSchemaText } from './schema.js';

// Two levels up from src/config/ or dist/config/ is the package root.
const target = fileURLToPath(new URL('../../schema/policy.schema.json', import.meta.url));
writeFileSync(target, policyJsonSchemaText());
process.stdout.write(`wrote ${target}\n`);

// Beside the compiled loader in dist/, the validator as code, so start-up skips compiling the
// schema. Only from dist/: src/ (tests) compiles at run time and keeps no generated files.
if (import.meta.url.includes('/dist/')) {
  const ajv = createPolicyAjv({ code: { source: true } });
  const validate = ajv.compile(policyJsonSchema());
  const standalone = createRequire(import.meta.url)('ajv/dist/standalone') as { default: (ajv: unknown, fn: unknown) => string };
  const out = fileURLToPath(new URL(PRECOMPILED_VALIDATOR, import.meta.url));
  writeFileSync(out, standalone.default(ajv, validate));
  process.stdout.write(`wrote ${out}\n`);
}
