/**
 * JSON Patch `add` operations (all the mutation core produces) applied to a YAML Document in
 * place, so that everything the patch does not touch keeps its comments, order and style. A
 * document whose shape the patch cannot follow (an alias, a merge key) is a TemplateError.
 */
import { isMap, isSeq, type Document, type Node } from 'yaml';
import { TemplateError, type AddOperation } from './plan.js';
import type { Path } from './workloads.js';

export function applyToDocument(doc: Document, at: Path, patch: readonly AddOperation[]): void {
  for (const operation of patch) {
    const tokens = [...at.map(String), ...parsePointer(operation.path)];
    const last = tokens.pop();
    if (last === undefined) throw new TemplateError('cannot add at the document root');
    const parent = tokens.reduce<unknown>((node, token) => child(node, token, operation.path), doc.contents);
    const value = doc.createNode(operation.value);
    // A new key goes last, except a template's new metadata: first, where people look for it.
    if (isMap(parent) && last === 'metadata' && !parent.has(last)) parent.items.unshift(doc.createPair(last, value));
    else if (isMap(parent)) parent.set(last, value);
    else if (isSeq(parent) && last === '-') parent.items.push(value);
    else if (isSeq(parent) && /^[0-9]+$/.test(last) && Number(last) <= parent.items.length) parent.items.splice(Number(last), 0, value);
    else throw new TemplateError(`${operation.path}: no place to add at in the YAML (an alias or a merge key?)`);
  }
}

function child(node: unknown, token: string, path: string): Node {
  const found = isMap(node) ? node.get(token, true) : isSeq(node) && /^[0-9]+$/.test(token) ? node.get(Number(token), true) : undefined;
  if (found === undefined || found === null) throw new TemplateError(`${path}: ${token} is not in the YAML itself (an alias or a merge key?)`);
  return found as Node;
}

/** RFC 6901: "/a/b~1c" → ["a", "b/c"]. */
export function parsePointer(pointer: string): string[] {
  if (pointer === '') return [];
  if (!pointer.startsWith('/')) throw new TemplateError(`${pointer}: a JSON pointer starts with "/"`);
  return pointer
    .slice(1)
    .split('/')
    .map((token) => token.replaceAll('~1', '/').replaceAll('~0', '~'));
}
