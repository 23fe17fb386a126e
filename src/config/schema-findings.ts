/**
 * Step 2 of loading a policy (load.ts): validate the plain document against the strict schema
 * with Ajv (precompiled at build time), and turn Ajv's errors into one plain-language finding
 * each.
 */
import { createRequire } from 'node:module';
import type { Ajv as AjvInstance, ErrorObject, Options, ValidateFunction } from 'ajv';
import { didYouMean, hintFor } from './did-you-mean.js';
import type { PolicyPath } from './locate.js';
import { isPlainObject } from './normalize.js';
import { DURATION_PATTERN, POSITIVE_DURATION_PATTERN } from '../util/units.js';

import { finding, listOf, type Finding } from './findings.js';

// =============================================================================================
// Step 2: the schema, with Ajv's errors turned into plain language
// =============================================================================================

/** Where `npm run build` writes the validator precompiled from the schema (write-schema.ts). */
export const PRECOMPILED_VALIDATOR = './policy-validator.cjs';

const requireHere = createRequire(import.meta.url);

/**
 * Once per process: the validator precompiled at build time, or, running from src/ as the
 * tests do, one compiled now from the TypeBox schema. Loading the schema only in that case
 * keeps TypeBox and the schema compile (a few hundred ms together) out of the sidecar's start.
 */
const validate: ValidateFunction = precompiledValidator() ?? (await compileFromSchema());

function precompiledValidator(): ValidateFunction | undefined {
  try {
    return requireHere(PRECOMPILED_VALIDATOR) as ValidateFunction;
  } catch {
    return undefined;
  }
}

async function compileFromSchema(): Promise<ValidateFunction> {
  const { policyJsonSchema } = await import('./schema.js');
  return createPolicyAjv().compile(policyJsonSchema());
}

/**
 * The one Ajv set-up, used at run time and by the build's precompilation. verbose: errors
 * carry the failing value and its schema node, whose `errorMessage` and property names make
 * the messages and "did you mean" hints. Ajv itself is loaded only when needed.
 */
export function createPolicyAjv(options: Options = {}): AjvInstance {
  const { Ajv } = requireHere('ajv') as typeof import('ajv');
  const ajv = new Ajv({ allErrors: true, strict: true, verbose: true, ...options });
  ajv.addKeyword({ keyword: 'errorMessage', schemaType: 'string' });
  return ajv;
}

export function schemaFindings(data: unknown): Finding[] {
  if (data === null || data === undefined) {
    return [finding([], 'the file is empty; a policy needs at least version, listeners, upstreams and routes')];
  }
  if (!isPlainObject(data)) return [finding([], 'the policy must be a mapping with keys such as version, listeners, upstreams and routes')];
  if (validate(data)) return [];
  return collapseAlternatives(validate.errors ?? []).flatMap((error) => translate(error, data));
}

/**
 * With allErrors, an `anyOf` reports why each alternative failed and then that none matched.
 * Keep only the `anyOf` error (its schema's `errorMessage` names all the forms), but remember
 * the alternatives' allowed words for a "did you mean" hint.
 */
function collapseAlternatives(errors: readonly ErrorObject[]): ErrorObject[] {
  const alternatives = errors.filter((e) => e.keyword === 'anyOf' || e.keyword === 'oneOf').map((e) => e.schemaPath);
  const isBranchError = (e: ErrorObject): boolean => alternatives.some((p) => e.schemaPath.startsWith(`${p}/`));
  return errors
    .filter((e) => !isBranchError(e) && e.propertyName === undefined) // propertyName: inside propertyNames
    .map((e) => (alternatives.includes(e.schemaPath) ? { ...e, params: { allowed: branchWords(errors, e.schemaPath) } } : e));
}

function branchWords(errors: readonly ErrorObject[], anyOfPath: string): string[] {
  return errors
    .filter((e) => e.keyword === 'enum' && e.schemaPath.startsWith(`${anyOfPath}/`))
    .flatMap((e) => (e.params as { allowedValues: unknown[] }).allowedValues)
    .filter((v): v is string => typeof v === 'string');
}

function translate(error: ErrorObject, root: unknown): Finding[] {
  const path = pointerToPath(error.instancePath, root);
  switch (error.keyword) {
    case 'additionalProperties':
      return [unknownKey(path, error)];
    case 'required': {
      const key = (error.params as { missingProperty: string }).missingProperty;
      return [finding(path, `missing required key ${JSON.stringify(key)}`, { missingKey: key })];
    }
    case 'propertyNames': {
      const name = (error.params as { propertyName: string }).propertyName;
      const rule = errorMessageOf(error.schema) ?? 'is not allowed here';
      return [finding(path, `key ${JSON.stringify(name)} ${rule}`, { at: { path, key: name } })];
    }
    case 'uniqueItems': {
      const { i } = error.params as { i: number; j: number };
      const items = Array.isArray(error.data) ? error.data : [];
      return [finding(path, `lists ${JSON.stringify(items[i])} more than once`, { at: { path: [...path, i] } })];
    }
    default:
      return [finding(path, mismatch(error))];
  }
}

function unknownKey(path: PolicyPath, error: ErrorObject): Finding {
  const key = (error.params as { additionalProperty: string }).additionalProperty;
  const known = Object.keys(propertiesOf(error.parentSchema));
  const suggestion = didYouMean(key, known);
  const hint = suggestion === undefined ? '' : ` (did you mean ${JSON.stringify(suggestion)}?)`;
  return finding(path, `unknown key ${JSON.stringify(key)}${hint}`, {
    at: { path, key },
    ...(suggestion === undefined ? {} : { suggestedKey: suggestion }),
  });
}

/** The message for a value of the wrong type, form or range. */
function mismatch(error: ErrorObject): string {
  const value = error.data;
  const custom = errorMessageOf(error.parentSchema);
  const pattern = patternOf(error.parentSchema);
  const base = custom ?? standardMessage(error);
  if (error.keyword === 'type' && value === null) return `is empty, but ${base}`;
  return `${base}${unitHint(pattern, value)}${quoteHint(error, custom, value)}${wordHint(error, custom, value)}`;
}

function standardMessage(error: ErrorObject): string {
  const params = error.params as Record<string, unknown>;
  switch (error.keyword) {
    case 'type':
      return `must be ${TYPE_WORDS[String(params.type)] ?? String(params.type)}`;
    case 'enum':
      return `must be one of ${listOf((params.allowedValues as unknown[]).map(String), 'or')}`;
    case 'const':
      return `must be ${JSON.stringify(params.allowedValue)}`;
    case 'minItems':
      return params.limit === 1 ? 'must not be empty' : `must have at least ${String(params.limit)} items`;
    case 'minLength':
    case 'minProperties':
      return 'must not be empty';
    case 'pattern':
      return `must match ${String(params.pattern)}`;
    default:
      return error.message ?? 'is not valid';
  }
}

const TYPE_WORDS: Readonly<Record<string, string>> = {
  object: 'a mapping (key: value)',
  array: 'a list',
  string: 'a string',
  number: 'a number',
  integer: 'a whole number',
  boolean: 'true or false',
};

/** `timeout: 2` → add a unit. */
function unitHint(pattern: string | undefined, value: unknown): string {
  const wantsDuration = pattern === DURATION_PATTERN || pattern === POSITIVE_DURATION_PATTERN;
  return wantsDuration && typeof value === 'number' ? ` (add a unit: "${value}s" or "${value}ms")` : '';
}

/** `x-canary: 1` under match.headers → the value must be quoted to be a string. */
function quoteHint(error: ErrorObject, custom: string | undefined, value: unknown): string {
  const wantsString = error.keyword === 'type' && (error.params as { type: string }).type === 'string';
  const scalar = typeof value === 'number' || typeof value === 'boolean';
  return wantsString && scalar && custom === undefined ? ` (quote it: "${String(value)}")` : '';
}

/** `balance: least-requests` → (did you mean "least-request"?); `on: ["503"]`, `port: "8080"` → unquote it. */
function wordHint(error: ErrorObject, custom: string | undefined, value: unknown): string {
  if (typeof value !== 'string') return '';
  if (error.keyword === 'anyOf' && /^[0-9]+$/.test(value)) {
    const what = custom?.includes('status code') === true ? 'the status code' : 'the number';
    return ` (write ${what} without quotes: ${value})`;
  }
  const params = error.params as { allowedValues?: unknown[]; allowed?: string[] };
  const words = (params.allowedValues ?? params.allowed ?? []).filter((v): v is string => typeof v === 'string');
  return hintFor(value, words);
}

function errorMessageOf(schema: unknown): string | undefined {
  return isPlainObject(schema) && typeof schema.errorMessage === 'string' ? schema.errorMessage : undefined;
}

function patternOf(schema: unknown): string | undefined {
  return isPlainObject(schema) && typeof schema.pattern === 'string' ? schema.pattern : undefined;
}

function propertiesOf(schema: unknown): Record<string, unknown> {
  return isPlainObject(schema) && isPlainObject(schema.properties) ? schema.properties : {};
}

/** `/routes/1/retry` → ['routes', 1, 'retry'], with numbers where the data has a list. */
function pointerToPath(pointer: string, root: unknown): PolicyPath {
  if (pointer === '') return [];
  const path: (string | number)[] = [];
  let node = root;
  for (const raw of pointer.slice(1).split('/')) {
    const segment = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    const index = Array.isArray(node) ? Number(segment) : undefined;
    path.push(index ?? segment);
    node = index === undefined ? (isPlainObject(node) ? node[segment] : undefined) : (node as unknown[])[index];
  }
  return path;
}

