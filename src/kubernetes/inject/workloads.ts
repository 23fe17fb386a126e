/**
 * Where the pod templates are in a Kubernetes object: the kinds `outrider inject` changes, and
 * the `items` of a `List`. Any other kind has none and passes through untouched.
 */
export type Path = readonly (string | number)[];

/** The path to the pod template in each kind that has one (a Pod is its own template). */
const TEMPLATE_PATHS: Readonly<Record<string, Path>> = {
  Pod: [],
  Deployment: ['spec', 'template'],
  StatefulSet: ['spec', 'template'],
  DaemonSet: ['spec', 'template'],
  ReplicaSet: ['spec', 'template'],
  ReplicationController: ['spec', 'template'],
  Job: ['spec', 'template'],
  CronJob: ['spec', 'jobTemplate', 'spec', 'template'],
};

export interface TemplateAt {
  /** From the document's root to the template. */
  readonly path: Path;
  /** What to call it in messages: `Deployment shop`, `List item 2 (CronJob nightly)`. */
  readonly label: string;
}

export function podTemplates(object: unknown): TemplateAt[] {
  if (!isObject(object)) return [];
  if (object.kind === 'List' && Array.isArray(object.items)) {
    return object.items.flatMap((item, i) =>
      podTemplates(item).map((t) => ({ path: ['items', i, ...t.path], label: `List item ${i} (${t.label})` })),
    );
  }
  const path = typeof object.kind === 'string' && Object.hasOwn(TEMPLATE_PATHS, object.kind) ? TEMPLATE_PATHS[object.kind] : undefined;
  if (path === undefined) return [];
  const name = isObject(object.metadata) ? (object.metadata.name ?? object.metadata.generateName) : undefined;
  return [{ path, label: `${String(object.kind)} ${typeof name === 'string' ? name : '(no name)'}` }];
}

/** The value at `path`, or undefined. */
export function valueAt(object: unknown, path: Path): unknown {
  let value = object;
  for (const key of path) {
    if (typeof value !== 'object' || value === null) return undefined;
    value = (value as Record<string | number, unknown>)[key];
  }
  return value;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
