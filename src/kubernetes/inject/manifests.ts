/**
 * `outrider inject` on a YAML stream: every document is read, the pod templates in it planned
 * by the mutation core, and the plan applied to the document. A document with nothing to
 * change is written back as the exact text it came as; a changed one keeps its comments, key
 * order and quoting (the yaml package's Document API), and nothing but the patch is added; a
 * JSON document comes out as JSON.
 */
import { Composer, CST, isMap, Parser, type Document } from 'yaml';
import { AnnotationError } from './annotations.js';
import { planInjection, TemplateError, type InjectOptions } from './plan.js';
import { podTemplates, valueAt } from './workloads.js';
import { applyToDocument } from './yaml-patch.js';

export interface InjectResult {
  /** The stream, changed; empty when there are errors. */
  readonly output: string;
  /** Each pod template injected or skipped, for the summary on stderr. */
  readonly injected: readonly string[];
  readonly skipped: readonly { label: string; reason: string }[];
  /** Templates that could not be injected (bad annotations, not a pod); none: success. */
  readonly errors: readonly string[];
}

// Kubernetes reads YAML 1.1 (yes/no/on/off are booleans), so strings added are quoted for it.
const YAML_OPTIONS = { version: '1.1', prettyErrors: true } as const;
const WRITE_OPTIONS = { lineWidth: 0 } as const;

export function injectManifests(source: string, options: InjectOptions): InjectResult {
  const injected: string[] = [];
  const skipped: { label: string; reason: string }[] = [];
  const errors: string[] = [];
  const out: string[] = [];
  let docNumber = 0;
  for (const token of new Parser().parse(source)) {
    if (token.type !== 'document') {
      out.push(CST.stringify(token)); // comments, directives and `...` between documents
      continue;
    }
    docNumber++;
    const doc = compose(token);
    if (doc.errors.length > 0) {
      errors.push(`document ${docNumber}: ${doc.errors[0]?.message ?? 'invalid YAML'}`);
      continue;
    }
    let object: unknown;
    try {
      object = doc.toJS();
    } catch (err) {
      errors.push(`document ${docNumber}: ${(err as Error).message}`); // an alias with no anchor
      continue;
    }
    let changed = false;
    for (const { path, label } of podTemplates(object)) {
      const where = `document ${docNumber}, ${label}`;
      try {
        const plan = planInjection(valueAt(object, path), options);
        if (!plan.inject) {
          skipped.push({ label: where, reason: plan.reason });
          continue;
        }
        applyToDocument(doc, path, plan.patch);
        injected.push(where);
        changed = true;
      } catch (err) {
        if (!(err instanceof AnnotationError || err instanceof TemplateError)) throw err;
        errors.push(`${where}: ${err.message}`);
      }
    }
    out.push(!changed ? CST.stringify(token) : isJson(doc) ? `${JSON.stringify(doc.toJS(), null, 2)}\n` : doc.toString(WRITE_OPTIONS));
  }
  return { output: errors.length > 0 ? '' : out.join(''), injected, skipped, errors };
}

/** JSON in (`kubectl get -o json`), JSON out: as YAML it would come out as one long flow line. */
function isJson(doc: Document.Parsed): boolean {
  return isMap(doc.contents) && doc.contents.flow === true && doc.directives?.docStart !== true;
}

function compose(token: CST.Document): Document.Parsed {
  const docs = [...new Composer(YAML_OPTIONS).compose([token])];
  return docs[0] as Document.Parsed;
}
