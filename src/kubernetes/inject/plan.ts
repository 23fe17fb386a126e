/**
 * The one mutation core of `outrider inject` and the injector: given a pod template (a Pod, or
 * the `template` of a workload: `{metadata, spec}`), decide whether it gets the sidecar and, if
 * so, say the change as JSON Patch (RFC 6902) `add` operations relative to the template. The
 * injector sends them as they are; `inject` applies them to the YAML document, so both make
 * exactly the same change.
 */
import { ANNOTATION, injectSetting, readSettings, type InjectDefaults } from './annotations.js';
import { captureContainer, policyVolume, sidecarContainer, type JsonObject } from './containers.js';
import { APP_ENV, CAPTURE_NAME, POLICY_VOLUME, SIDECAR_NAME, VERSION, captureImageFor } from './defaults.js';

export interface AddOperation {
  readonly op: 'add';
  readonly path: string;
  readonly value: unknown;
}

export interface InjectOptions extends InjectDefaults {
  /** The Outrider image. */
  readonly image: string;
  /** The capture init container's image; default: captureImageFor(image). */
  readonly captureImage?: string;
  /**
   * 'unless-disabled': inject unless outrider.io/inject is disabled (`inject`, and the injector
   * for namespaces that opted in). 'if-enabled': only when the pod says enabled.
   */
  readonly optIn: 'unless-disabled' | 'if-enabled';
}

export type Plan = { readonly inject: true; readonly patch: readonly AddOperation[] } | { readonly inject: false; readonly reason: string };

/** A pod template that cannot be injected as it is (the message says why). */
export class TemplateError extends Error {
  override name = 'TemplateError';
}

const isObject = (value: unknown): value is JsonObject => typeof value === 'object' && value !== null && !Array.isArray(value);
const pointer = (...tokens: (string | number)[]): string => tokens.map((t) => `/${String(t).replaceAll('~', '~0').replaceAll('/', '~1')}`).join('');

export function planInjection(template: unknown, options: InjectOptions): Plan {
  if (!isObject(template)) throw new TemplateError('the pod template is not an object');
  const metadata = template.metadata ?? {};
  if (!isObject(metadata)) throw new TemplateError('metadata is not an object');
  const spec = template.spec;
  if (!isObject(spec) || !Array.isArray(spec.containers) || !spec.containers.every(isObject)) {
    throw new TemplateError('spec.containers is missing or not a list of containers');
  }
  const annotations = metadata.annotations ?? {};
  if (!isObject(annotations)) throw new TemplateError('metadata.annotations is not a map');
  const labels = isObject(metadata.labels) ? metadata.labels : {};

  // The label counts too (the injector's objectSelector sees only labels); the annotation wins.
  const label = labels[ANNOTATION.inject];
  const asked = injectSetting(annotations) ?? (label === 'enabled' || label === 'disabled' ? label : undefined);
  if (asked === 'disabled') return { inject: false, reason: `${ANNOTATION.inject}: disabled` };
  if (options.optIn === 'if-enabled' && asked !== 'enabled') return { inject: false, reason: `not opted in (${ANNOTATION.inject}: enabled)` };
  const initContainers = listOf(spec, 'initContainers');
  const names = [...spec.containers, ...initContainers].map((c) => c.name);
  if (names.includes(SIDECAR_NAME)) return { inject: false, reason: `already has a container named ${SIDECAR_NAME}` };
  if (spec.hostNetwork === true) return { inject: false, reason: "hostNetwork: the pod shares the node's ports and network namespace" };
  if (names.includes(CAPTURE_NAME)) throw new TemplateError(`a container is already named ${CAPTURE_NAME}`);
  const volumes = listOf(spec, 'volumes');
  if (volumes.some((v) => v.name === POLICY_VOLUME)) throw new TemplateError(`a volume is already named ${POLICY_VOLUME}`);

  const settings = readSettings(annotations, options);
  const patch: AddOperation[] = [];
  const add = (path: string, value: unknown): void => void patch.push({ op: 'add', path, value });

  const sidecar = sidecarContainer(options.image, settings);
  const capture = settings.capture ? [captureContainer(options.captureImage ?? captureImageFor(options.image), settings, containerPorts(spec.containers))] : [];
  // First among the init containers, so later ones already have the proxy; capture before it.
  if (spec.initContainers == null) add('/spec/initContainers', [...capture, sidecar]);
  else for (const container of [sidecar, ...capture]) add('/spec/initContainers/0', container);

  spec.containers.forEach((container, i) => {
    const have = new Set(listOf(container, 'env').map((e) => e.name));
    const missing = APP_ENV.filter((e) => !have.has(e.name)).map((e) => ({ ...e }));
    if (container.env == null) add(pointer('spec', 'containers', i, 'env'), missing);
    else for (const variable of missing) add(pointer('spec', 'containers', i, 'env', '-'), variable);
  });

  if (spec.volumes == null) add('/spec/volumes', [policyVolume(settings)]);
  else add('/spec/volumes/-', policyVolume(settings));

  if (template.metadata == null) add('/metadata', { annotations: { [ANNOTATION.injected]: VERSION } });
  else if (metadata.annotations == null) add('/metadata/annotations', { [ANNOTATION.injected]: VERSION });
  else add(pointer('metadata', 'annotations', ANNOTATION.injected), VERSION);
  return { inject: true, patch };
}

function listOf(parent: JsonObject, key: string): JsonObject[] {
  const list = parent[key];
  if (list == null) return [];
  if (!Array.isArray(list) || !list.every(isObject)) throw new TemplateError(`${key} is not a list of objects`);
  return list;
}

/** The TCP ports the app containers declare, in order, each once. */
function containerPorts(containers: readonly JsonObject[]): number[] {
  const ports = containers.flatMap((c) => listOf(c, 'ports')).filter((p) => (p.protocol ?? 'TCP') === 'TCP');
  return [...new Set(ports.map((p) => p.containerPort).filter((p): p is number => Number.isInteger(p)))];
}
