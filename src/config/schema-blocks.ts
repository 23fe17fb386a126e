/**
 * The building blocks of the policy schema (schema.ts): closed objects, enums, durations,
 * sizes, names, addresses, methods, each with its plain-language `errorMessage`.
 */
import { Type, type Static, type TSchema, type TProperties, type ObjectOptions } from '@sinclair/typebox';
import { DURATION_PATTERN, POSITIVE_DURATION_PATTERN, SIZE_PATTERN } from '../util/units.js';
import { ADDRESS_PATTERN, IDEMPOTENT_METHODS, NAME_PATTERN } from './defaults.js';

// ---------------------------------------------------------------------------------------------
// Building blocks
// ---------------------------------------------------------------------------------------------

/** A closed object: the schema rejects any key it doesn't list. */
export function Strict<T extends TProperties>(properties: T, options: ObjectOptions & { description: string }) {
  return Type.Object(properties, { ...options, additionalProperties: false });
}

/** A string enum as `{ type: string, enum: [...] }`: one clear Ajv error instead of an anyOf of consts. */
export function StringEnum<const T extends readonly string[]>(values: T, options: { description: string; default?: T[number]; errorMessage?: string }) {
  return Type.Unsafe<T[number]>({ type: 'string', enum: [...values], errorMessage: `must be one of ${listOf(values)}`, ...options });
}

/** A mapping from free-form names to values of one schema (upstreams, match headers). */
export function MapOf<T extends TSchema>(values: T, options: { description: string; propertyNames: TSchema }) {
  return Type.Unsafe<Record<string, Static<T>>>({ type: 'object', additionalProperties: values, ...options });
}

type Described = { description: string; default?: string };

export function Duration(options: Described) {
  return Type.String({ pattern: DURATION_PATTERN, errorMessage: 'must be a duration such as 250ms, 2s or 1m', ...options });
}

export function PositiveDuration(options: Described) {
  return Type.String({
    pattern: POSITIVE_DURATION_PATTERN,
    errorMessage: 'must be a duration greater than 0, such as 250ms, 2s or 1m',
    ...options,
  });
}

export function Size(options: Described) {
  return Type.String({ pattern: SIZE_PATTERN, errorMessage: 'must be a size such as 512B, 64KiB or 1MiB', ...options });
}

export function Count(minimum: number, options: { description: string; default?: number }) {
  return Type.Integer({ minimum, ...options });
}

export function Ratio(options: { description: string; default?: number }) {
  return Type.Number({ minimum: 0, maximum: 1, ...options });
}

export function Percent(options: { description: string; default?: number }) {
  return Type.Number({ minimum: 0, maximum: 100, ...options });
}

export const NAME_MESSAGE = 'must be a name made of letters, digits, ".", "_" and "-", such as catalog-reads';

export function Name(description: string) {
  return Type.String({ pattern: NAME_PATTERN, errorMessage: NAME_MESSAGE, description });
}

/** A reference to a name defined elsewhere; load.ts checks that it exists. */
export function Reference(description: string) {
  return Type.String({ minLength: 1, description });
}


export function Address(options: Described) {
  return Type.String({
    pattern: ADDRESS_PATTERN,
    errorMessage: 'must be host:port, such as 127.0.0.1:15001 or [::1]:15001',
    ...options,
  });
}


/** RFC 9110 token characters. */
export const HEADER_NAME_PATTERN = "^[!#$%&'*+.^_`|~0-9A-Za-z-]+$";
export const HEADER_NAME_MESSAGE = 'must be a valid HTTP header name, such as x-tenant-id';

export const METHOD = Type.String({
  pattern: '^[A-Za-z]+$',
  errorMessage: 'must be an HTTP method such as GET',
  description: 'An HTTP method; case does not matter (upper-cased on load).',
});

export function Methods(description: string) {
  return Type.Array(METHOD, { minItems: 1, uniqueItems: true, default: [...IDEMPOTENT_METHODS], description });
}

export function listOf(values: readonly (string | number)[]): string {
  const shown = values.map(String);
  return shown.length <= 1 ? shown.join('') : `${shown.slice(0, -1).join(', ')} or ${shown[shown.length - 1]}`;
}

export function inner(pattern: string): string {
  return pattern.replace(/^\^/, '').replace(/\$$/, '');
}

export function FilePath(description: string) {
  return Type.String({ minLength: 1, description });
}
