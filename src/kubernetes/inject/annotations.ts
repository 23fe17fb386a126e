/**
 * The outrider.io/* annotations on a pod template (docs/kubernetes.md, "Annotations"), read and
 * checked. A value that cannot be meant (a port list with a word in it, `capture: yes`) is an
 * error rather than a default: a silently ignored annotation is a pod without what it asked for.
 */
import { DEFAULT_CPU_REQUEST, DEFAULT_MEMORY_LIMIT, DEFAULT_MEMORY_REQUEST, DEFAULT_NODE_OPTIONS } from './defaults.js';

export const ANNOTATION = {
  inject: 'outrider.io/inject',
  policy: 'outrider.io/policy',
  capture: 'outrider.io/capture',
  inboundPorts: 'outrider.io/inbound-ports',
  outboundPorts: 'outrider.io/outbound-ports',
  excludeOutboundPorts: 'outrider.io/exclude-outbound-ports',
  proxyCpu: 'outrider.io/proxy-cpu',
  proxyMemory: 'outrider.io/proxy-memory',
  proxyNodeOptions: 'outrider.io/proxy-node-options',
  /** Written by the injection, with Outrider's version: what was injected, and by which release. */
  injected: 'outrider.io/injected',
} as const;

/** An annotation value that cannot be used; the message names the annotation and the value. */
export class AnnotationError extends Error {
  override name = 'AnnotationError';
}

/** Where the pod's own settings were absent, these apply (the CLI's flags, the injector's). */
export interface InjectDefaults {
  /** The ConfigMap holding the policy. */
  readonly policy: string;
  /** Add the capture init container. */
  readonly capture: boolean;
}

/** Everything the annotations decide about one pod, checked. */
export interface PodSettings {
  readonly policy: string;
  readonly capture: boolean;
  /** Port list as `outrider capture` takes it ("8080,9090" or "all"); undefined: the pod's container ports. */
  readonly inboundPorts: string | undefined;
  readonly outboundPorts: string | undefined;
  readonly excludeOutboundPorts: string | undefined;
  readonly cpuRequest: string;
  /** Request and limit alike: a request above the default limit would otherwise be invalid. */
  readonly memory: { request: string; limit: string };
  /** The sidecar's NODE_OPTIONS (V8's heap sizes); empty: V8's own defaults. */
  readonly nodeOptions: string;
}

type Annotations = Readonly<Record<string, unknown>>;

/** outrider.io/inject on the template: 'enabled', 'disabled' or undefined (not said). */
export function injectSetting(annotations: Annotations): 'enabled' | 'disabled' | undefined {
  return switchValue(annotations, ANNOTATION.inject);
}

export function readSettings(annotations: Annotations, defaults: InjectDefaults): PodSettings {
  const policy = text(annotations, ANNOTATION.policy) ?? defaults.policy;
  if (!isDnsSubdomain(policy)) {
    throw new AnnotationError(`${ANNOTATION.policy}: "${policy}" is not a ConfigMap name (lower-case letters, digits, '-' and '.')`);
  }
  const capture = switchValue(annotations, ANNOTATION.capture);
  const memory = quantity(annotations, ANNOTATION.proxyMemory);
  return {
    policy,
    capture: capture === undefined ? defaults.capture : capture === 'enabled',
    inboundPorts: ports(annotations, ANNOTATION.inboundPorts, true),
    outboundPorts: ports(annotations, ANNOTATION.outboundPorts, true),
    excludeOutboundPorts: ports(annotations, ANNOTATION.excludeOutboundPorts, false),
    cpuRequest: quantity(annotations, ANNOTATION.proxyCpu) ?? DEFAULT_CPU_REQUEST,
    memory: memory === undefined ? { request: DEFAULT_MEMORY_REQUEST, limit: DEFAULT_MEMORY_LIMIT } : { request: memory, limit: memory },
    nodeOptions: nodeOptions(annotations, ANNOTATION.proxyNodeOptions) ?? DEFAULT_NODE_OPTIONS,
  };
}

function text(annotations: Annotations, name: string): string | undefined {
  const value = annotations[name];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') throw new AnnotationError(`${name}: annotation values are strings; got ${JSON.stringify(value)} (quote it)`);
  return value.trim();
}

function switchValue(annotations: Annotations, name: string): 'enabled' | 'disabled' | undefined {
  const value = text(annotations, name);
  if (value === undefined || value === 'enabled' || value === 'disabled') return value;
  throw new AnnotationError(`${name}: "${value}" is neither "enabled" nor "disabled"`);
}

/** "8080, 9090" → "8080,9090"; "all" where allowed. Ports are TCP port numbers 1-65535. */
function ports(annotations: Annotations, name: string, allowAll: boolean): string | undefined {
  const value = text(annotations, name);
  if (value === undefined) return undefined;
  if (allowAll && value === 'all') return value;
  const list = value.split(',').map((part) => part.trim());
  const bad = list.find((port) => !/^[0-9]{1,5}$/.test(port) || Number(port) < 1 || Number(port) > 65535);
  if (bad !== undefined) {
    const expected = allowAll ? 'a comma-separated list of ports (1-65535) or "all"' : 'a comma-separated list of ports (1-65535)';
    throw new AnnotationError(`${name}: "${value}" is not ${expected}`);
  }
  return [...new Set(list.map(Number))].join(',');
}

/** A Kubernetes resource quantity such as 100m, 0.5, 128Mi or 1G. */
function quantity(annotations: Annotations, name: string): string | undefined {
  const value = text(annotations, name);
  if (value === undefined || /^([0-9]+(\.[0-9]*)?|\.[0-9]+)(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$/.test(value)) return value;
  throw new AnnotationError(`${name}: "${value}" is not a Kubernetes quantity (such as 200m, 1, 128Mi)`);
}

/**
 * Node.js options, each word `--name` or `--name=value` ("--max-old-space-size=384"), or nothing.
 * Anything else would stop the sidecar at start (node refuses a NODE_OPTIONS it cannot read).
 */
function nodeOptions(annotations: Annotations, name: string): string | undefined {
  const value = text(annotations, name);
  if (value === undefined || value.split(/\s+/).every((word) => word === '' || /^--[a-z0-9][-a-z0-9_]*(=[^\s'"]+)?$/i.test(word))) return value?.replace(/\s+/g, ' ');
  throw new AnnotationError(`${name}: "${value}" is not a list of Node.js options (such as --max-old-space-size=384)`);
}

export function isDnsSubdomain(name: string): boolean {
  return name.length <= 253 && /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/.test(name);
}
