/**
 * Loads a policy file: YAML → plain document → schema → cross-references → normalized, frozen
 * Policy, or every problem found, each as `file:line:column: path: message`, sorted by position.
 *
 * Steps, and why in this order:
 * 1. Parse with `yaml` (merge keys on, duplicate keys rejected). Syntax errors stop here: the
 *    document they leave behind would only produce misleading follow-up errors.
 * 2. Validate the plain document (aliases and `<<` resolved) against the strict schema, then
 *    turn Ajv's errors into one plain-language message each.
 * 3. Check what a schema cannot say: names that must exist or be unique, regexes that must
 *    compile, keys that exclude each other, keys only required once `defaults` is merged in.
 *    These run even when step 2 found problems (they skip values of the wrong type), so a user
 *    sees every issue in one go rather than fixing them round by round.
 * 4. Normalize and freeze (normalize.ts).
 */
import { readFile } from 'node:fs/promises';
import { LineCounter, parseDocument, type Document } from 'yaml';
import { formatPath, SourceLocator, type SourcePosition } from './locate.js';
import { normalizePolicy } from './normalize.js';
import type { PolicyDocument } from './schema.js';
import type { LoadResult, PolicyIssue } from './types.js';
import { crossReferenceFindings } from './cross-references.js';
import type { Finding } from './findings.js';
import { schemaFindings } from './schema-findings.js';

export async function loadPolicyFile(file: string): Promise<LoadResult> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    return { ok: false, issues: [{ file, line: 1, column: 1, message: `cannot read the policy file: ${reason}` }] };
  }
  return loadPolicyText(text, file);
}

export function loadPolicyText(text: string, file: string): LoadResult {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, merge: true, prettyErrors: false, uniqueKeys: true });
  const syntaxIssues = yamlIssues(doc, text, lineCounter, file);
  if (syntaxIssues.length > 0) return { ok: false, issues: syntaxIssues };

  let data: unknown;
  try {
    data = doc.toJS({ maxAliasCount: 100 });
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    return { ok: false, issues: [{ file, line: 1, column: 1, message: `cannot expand the YAML aliases: ${reason}` }] };
  }

  const findings = [...schemaFindings(data), ...crossReferenceFindings(data)];
  if (findings.length > 0) return { ok: false, issues: toIssues(findings, new SourceLocator(doc, lineCounter), file) };
  try {
    // Both checks passed, so `data` has the schema's shape and every cross-reference holds.
    return { ok: true, policy: normalizePolicy(data as PolicyDocument, data) };
  } catch (err) {
    // Only a bug gets here; on a hot reload it must cost the new policy, not the running sidecar.
    const reason = err instanceof Error ? err.message : String(err);
    return { ok: false, issues: [{ file, line: 1, column: 1, message: `internal error while normalizing the policy: ${reason}` }] };
  }
}

function toIssues(findings: readonly Finding[], locator: SourceLocator, file: string): PolicyIssue[] {
  const seen = new Set<string>();
  const issues: PolicyIssue[] = [];
  for (const f of withoutRedundant(findings)) {
    const position = locate(f, locator);
    const text = describe(f);
    // One piece of text, one issue: the same defaults block blamed by every inheriting route,
    // or an anchored block whose typo shows up again wherever `<<: *it` merges it.
    const origin = originOf(f, locator);
    const keys = [`at ${position.line}:${position.column}:${text}`, ...(origin === undefined ? [] : [`from ${origin}:${f.message}`])];
    if (keys.some((key) => seen.has(key))) continue;
    keys.forEach((key) => seen.add(key));
    issues.push({ file, line: position.line, column: position.column, message: text });
  }
  // Array#sort is stable: issues at one position keep the order they were found in.
  return issues.sort((a, b) => a.line - b.line || a.column - b.column);
}

function originOf(f: Finding, locator: SourceLocator): number | undefined {
  if (f.at === undefined) return locator.originOf(f.path);
  return locator.originOf(f.at.path, f.at.key);
}

function locate(f: Finding, locator: SourceLocator): SourcePosition {
  if (f.at === undefined) return locator.valueAt(f.path);
  return f.at.key === undefined ? locator.valueAt(f.at.path) : locator.keyAt(f.at.path, f.at.key);
}

function describe(f: Finding): string {
  return f.path.length === 0 ? f.message : `${formatPath(f.path)}: ${f.message}`;
}

/** `listeners[0]: missing required key "name"` says nothing new next to `unknown key "nmae" (did you mean "name"?)`. */
function withoutRedundant(findings: readonly Finding[]): Finding[] {
  const suggested = new Set(
    findings.filter((f) => f.suggestedKey !== undefined).map((f) => `${formatPath(f.path)}\u0000${f.suggestedKey}`),
  );
  return findings.filter((f) => f.missingKey === undefined || !suggested.has(`${formatPath(f.path)}\u0000${f.missingKey}`));
}

// =============================================================================================
// Step 1: YAML syntax
// =============================================================================================

function yamlIssues(doc: Document, text: string, lineCounter: LineCounter, file: string): PolicyIssue[] {
  return doc.errors.map((error) => {
    const { line, col } = lineCounter.linePos(error.pos[0]);
    const message =
      error.code === 'DUPLICATE_KEY'
        ? `duplicate key ${JSON.stringify(keyTextAt(text, error.pos[0]))} (a key may appear once per mapping)`
        : `invalid YAML: ${error.message}`;
    return { file, line, column: col, message };
  });
}

/** The key written at `offset` (`yaml` points at its first character only). */
function keyTextAt(text: string, offset: number): string {
  const rest = text.slice(offset);
  const key = /^("(?:[^"\\]|\\.)*"|'(?:[^']|'')*'|[^\n]*?)\s*:(?:\s|$)/.exec(rest)?.[1] ?? rest.split('\n')[0] ?? '';
  return key.replace(/^["']|["']$/g, '');
}

