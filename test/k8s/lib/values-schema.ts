/**
 * charts/outrider/values.schema.json checks `policy` with the policy's own JSON Schema
 * (schema/policy.schema.json, generated from src/config/schema.ts), less the keys the chart
 * writes itself. Helm needs one self-contained file, so those parts are copied in; this keeps
 * the copy current:
 *
 *   npx tsx test/k8s/lib/values-schema.ts --write      rewrite values.schema.json's policy part
 *
 * test/k8s/chart-values.test.ts fails when the copy is stale.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
export const VALUES_SCHEMA = `${ROOT}charts/outrider/values.schema.json`;
export const POLICY_SCHEMA = `${ROOT}schema/policy.schema.json`;
/** The policy keys the chart writes from `sidecar`; the rest come from `.Values.policy`. */
export const CHART_WRITTEN = ['version', 'admin', 'drainTimeout', 'listeners'] as const;

type Json = Record<string, unknown>;

/** values.schema.json as it should be: its own text, with `policy` from the policy schema. */
export function expectedValuesSchema(): string {
  const values = JSON.parse(readFileSync(VALUES_SCHEMA, 'utf8')) as Json;
  const policy = JSON.parse(readFileSync(POLICY_SCHEMA, 'utf8')) as Json;
  const source = policy.properties as Json;
  const own = Object.keys(source).filter((k) => !(CHART_WRITTEN as readonly string[]).includes(k));
  const target = (values.properties as Json).policy as Json;
  target.properties = Object.fromEntries(own.map((k) => [k, source[k]]));
  target.required = (policy.required as string[]).filter((k) => own.includes(k));
  return `${JSON.stringify(values, null, 2)}\n`;
}

// --write, so that a test runner loading this file (tap given the folder) never writes.
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href && process.argv.includes('--write')) {
  writeFileSync(VALUES_SCHEMA, expectedValuesSchema());
  process.stdout.write(`wrote ${VALUES_SCHEMA}\n`);
}
