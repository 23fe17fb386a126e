/**
 * A finding: a problem at a path in the policy document, located in the text at the very end
 * (load.ts), found by the schema step (schema-findings.ts) or the cross-reference step
 * (cross-references.ts).
 */
import type { PolicyPath } from './locate.js';

export 
interface Finding {
  /** What the message is about; printed before it (`routes[1].retry.attempts: …`). */
  readonly path: PolicyPath;
  readonly message: string;
  /** Where to point instead of the value at `path`: e.g. at an unknown key itself. */
  readonly at?: { readonly path: PolicyPath; readonly key?: string | number };
  /** "missing X" findings are dropped when an unknown key at the same place looks like X. */
  readonly missingKey?: string;
  readonly suggestedKey?: string;
}

export function finding(path: PolicyPath, message: string, extra: Omit<Finding, 'path' | 'message'> = {}): Finding {
  return { path, message, ...extra };
}

/** `a, b and c`, for messages. */
export function listOf(values: readonly string[], conjunction: 'and' | 'or'): string {
  return values.length <= 1 ? values.join('') : `${values.slice(0, -1).join(', ')} ${conjunction} ${values[values.length - 1]}`;
}
