/**
 * Kubernetes objects checked against the Kubernetes OpenAPI schemas, as the npm package
 * kubernetes-models compiles them (v4.5: Kubernetes 1.33, the kubectl version of
 * scripts/k8s-tools.ts; Prometheus Operator kinds from @kubernetes-models/prometheus-operator):
 *
 * 1. the model class's validate(): types, required fields, enums and formats;
 * 2. no unknown field. The OpenAPI schemas do not forbid extra properties (an API server drops
 *    them, or rejects them with `kubectl apply --validate=strict`), so validate() alone accepts
 *    `securityContxt:` or a field at the wrong depth. kubernetes-models ships no JSON schema to
 *    walk, only the validators compiled from it (Ajv), which read each property the schema
 *    declares (`data.name`, `data.ports`, …) and every key of a map (`labels`, `data`,
 *    `resources.limits`). So the object is validated through a Proxy that records, per object,
 *    the keys the validator read: an own key it never read is a field the schema does not
 *    declare. An object none of whose keys it read is free-form (a RawExtension, say, or
 *    x-kubernetes-preserve-unknown-fields), and is not looked into.
 *
 * An apiVersion/kind with no model is itself a problem (say which package to add to KNOWN_GROUPS).
 */

/** API groups outside kubernetes-models, and the package whose models cover them. */
const KNOWN_GROUPS: Readonly<Record<string, string>> = {
  'monitoring.coreos.com': '@kubernetes-models/prometheus-operator',
};

interface ModelClass {
  new (data: object): { validate(): void };
}

type Json = Record<string, unknown>;

const modules = new Map<string, Promise<Record<string, unknown> | undefined>>();

/** The model class for apiVersion + kind, or undefined when no installed package has one. */
export async function modelFor(apiVersion: string, kind: string): Promise<ModelClass | undefined> {
  if (!/^([a-z0-9.-]+\/)?v[0-9a-z]+$/.test(apiVersion) || !/^[A-Z][A-Za-z0-9]*$/.test(kind)) return undefined;
  const group = apiVersion.includes('/') ? apiVersion.split('/')[0] ?? '' : '';
  const pkg = KNOWN_GROUPS[group] ?? 'kubernetes-models';
  const specifier = `${pkg}/${apiVersion}`;
  let loaded = modules.get(specifier);
  if (loaded === undefined) {
    loaded = import(specifier).then(
      (m: Record<string, unknown>) => m,
      () => undefined,
    );
    modules.set(specifier, loaded);
  }
  const model = (await loaded)?.[kind];
  return typeof model === 'function' ? (model as ModelClass) : undefined;
}

interface Seen {
  readonly path: string;
  readonly read: Set<PropertyKey>;
}

/** Runs `check` on a Proxy of `root`; returns what it read of each object (by the original object). */
function traced(root: object, check: (proxy: object) => void): Map<object, Seen> {
  const seen = new Map<object, Seen>();
  const proxies = new WeakMap<object, object>();
  const wrap = (target: object, path: string): object => {
    const cached = proxies.get(target);
    if (cached !== undefined) return cached;
    const record: Seen = { path, read: new Set() };
    seen.set(target, record);
    const proxy = new Proxy(target, {
      get(t, key, receiver) {
        record.read.add(key);
        const value: unknown = Reflect.get(t, key, receiver);
        if (typeof value === 'object' && value !== null && Object.prototype.hasOwnProperty.call(t, key)) return wrap(value, `${path}/${String(key)}`);
        return value;
      },
      has(t, key) {
        record.read.add(key);
        return Reflect.has(t, key);
      },
    });
    proxies.set(target, proxy);
    return proxy;
  };
  check(wrap(root, ''));
  return seen;
}

/** The fields of `doc` that the schema its validator was compiled from does not declare. */
function unknownFields(doc: object, seen: Map<object, Seen>): string[] {
  const unknown: string[] = [];
  const walk = (node: unknown, path: string): void => {
    if (Array.isArray(node)) return node.forEach((item, i) => walk(item, `${path}/${i}`));
    if (typeof node !== 'object' || node === null) return;
    const record = seen.get(node);
    // Not reached (under an unknown key, reported there), or no key read (free-form).
    if (record === undefined || record.read.size === 0) return;
    for (const [key, value] of Object.entries(node)) {
      if (!record.read.has(key)) unknown.push(`${path}/${key}: unknown field`);
      else walk(value, `${path}/${key}`);
    }
  };
  walk(doc, '');
  return unknown;
}

/**
 * Every way `doc` breaks its kind's schema: validate()'s errors, or else its unknown fields;
 * empty when it is valid. Paths are JSON pointers into the object (`/spec/template/...`).
 */
export async function schemaProblems(doc: unknown): Promise<string[]> {
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) return ['not an object'];
  const { apiVersion, kind } = doc as Json;
  if (typeof apiVersion !== 'string' || typeof kind !== 'string') return ['no apiVersion or kind'];
  const Model = await modelFor(apiVersion, kind);
  if (Model === undefined) return [`no schema for ${apiVersion} ${kind} (add its models package to KNOWN_GROUPS in scripts/k8s-schemas.ts)`];
  const model = new Model(doc);
  let errors: string[] = [];
  const seen = traced(model, (proxy) => {
    try {
      model.validate.call(proxy);
    } catch (err) {
      errors = [(err as Error).message];
    }
  });
  // Unknown fields only of a valid object: a validator that fails may stop reading early.
  return errors.length > 0 ? errors : unknownFields(model, seen);
}
