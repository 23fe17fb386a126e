/** The chart under test, its examples, and the checks the chart tests share. */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv, type ErrorObject } from 'ajv';
import { coalesce, readYaml } from './helm.js';

export const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
export const CHART_DIR = join(ROOT, 'charts/outrider');
export const BIN = join(ROOT, 'bin/outrider');

/** examples/<pattern>.yaml → the pattern key `outrider validate` reports for it. */
export const EXAMPLE_PATTERNS: Readonly<Record<string, string>> = {
  'retry.yaml': 'retry',
  'hedge.yaml': 'hedge',
  'circuit-breaker.yaml': 'circuitBreaker',
  'bulkhead.yaml': 'bulkhead',
  'shadow.yaml': 'shadow',
  'scatter-gather.yaml': 'scatterGather',
};

export function exampleFiles(): string[] {
  return readdirSync(join(CHART_DIR, 'examples')).filter((f) => f.endsWith('.yaml')).sort();
}

export function readValues(file: string): Record<string, unknown> {
  return readYaml(readFileSync(file, 'utf8')) as Record<string, unknown>;
}

export function chartValues(): Record<string, unknown> {
  return readValues(join(CHART_DIR, 'values.yaml'));
}

/** An example's values as Helm sees them: coalesced over the chart's values.yaml. */
export function exampleValues(name: string): Record<string, unknown> {
  return coalesce(chartValues(), readValues(join(CHART_DIR, 'examples', name))) as Record<string, unknown>;
}

export function valuesValidator(): (values: unknown) => ErrorObject[] {
  const ajv = new Ajv({ strict: true, allErrors: true, allowUnionTypes: true });
  ajv.addKeyword('errorMessage'); // the policy schema's plain-language messages (Helm ignores them)
  const validate = ajv.compile(JSON.parse(readFileSync(join(CHART_DIR, 'values.schema.json'), 'utf8')) as object);
  return (values) => (validate(values) ? [] : [...(validate.errors ?? [])]);
}

export function describeErrors(errors: readonly ErrorObject[]): string {
  return errors.map((e) => `${e.instancePath || '/'} ${e.message ?? ''} ${JSON.stringify(e.params)}`).join('\n');
}

export interface Validation {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** `outrider validate FILE` with the real bin, for each policy text (in parallel). */
export async function validatePolicies(texts: readonly string[]): Promise<Validation[]> {
  const dir = mkdtempSync(join(tmpdir(), 'outrider-chart-policy-'));
  const results = Promise.all(
    texts.map((text, i) => {
      const file = join(dir, `policy-${i}.yaml`);
      writeFileSync(file, text);
      return new Promise<Validation>((resolve, reject) => {
        const child = spawn(process.execPath, [BIN, 'validate', file], { stdio: ['ignore', 'pipe', 'pipe'] });
        let stdout = '';
        let stderr = '';
        child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
        child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
        child.on('error', reject);
        child.on('close', (code) => resolve({ code, stdout, stderr }));
      });
    }),
  );
  return results.finally(() => rmSync(dir, { recursive: true, force: true }));
}
