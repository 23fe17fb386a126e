/**
 * What `outrider inject` and the injector add to a pod, in one place. The values follow the
 * outrider Helm chart (charts/outrider/values.yaml and templates/deployment.yaml) so that a pod
 * injected here and one rendered by the chart run the sidecar the same way.
 */
import { readFileSync } from 'node:fs';

/** The sidecar's container name: how a pod that already has Outrider is recognised. */
export const SIDECAR_NAME = 'outrider';
/** The init container that runs `outrider capture` (with --capture). */
export const CAPTURE_NAME = 'outrider-capture';
/** The pod volume holding the policy ConfigMap. */
export const POLICY_VOLUME = 'outrider-policy';
export const POLICY_MOUNT = '/etc/outrider';
export const POLICY_FILE = `${POLICY_MOUNT}/outrider.yaml`;
/** The ConfigMap with the policy when neither --policy nor outrider.io/policy names one. */
export const DEFAULT_POLICY_CONFIGMAP = 'outrider-policy';

/** distroless's "nonroot": the sidecar runs as it, and capture exempts its traffic. */
export const PROXY_UID = 65532;
/** The listeners and admin port the policy in the ConfigMap must use (as the chart's do). */
export const PORTS = { outbound: 15001, inbound: 15006, admin: 9901 } as const;

/**
 * Outbound ports capture never redirects: Outrider's listeners speak HTTP, and a captured TLS,
 * DNS-over-TCP, SSH, database or broker connection would fail there (docs/kubernetes.md,
 * section 7). outrider.io/exclude-outbound-ports adds to these.
 */
export const EXCLUDED_OUTBOUND_PORTS: readonly number[] = [22, 53, 443, 2181, 3306, 5432, 5672, 6379, 9092, 11211, 27017];

/**
 * V8's heap sizes for the sidecar: the image's `ENV NODE_OPTIONS` (Dockerfile) and the chart's
 * `sidecar.nodeOptions` hold the same (test/k8s/node-options.test.ts keeps the three equal;
 * docs/kubernetes.md, "Memory", has the measurements behind them). outrider.io/proxy-node-options
 * overrides it per pod.
 */
export const DEFAULT_NODE_OPTIONS = '--max-semi-space-size=4 --max-old-space-size=192';

/** The chart's sidecar.resources; outrider.io/proxy-cpu and outrider.io/proxy-memory override. */
export const DEFAULT_CPU_REQUEST = '100m';
export const DEFAULT_MEMORY_REQUEST = '96Mi';
export const DEFAULT_MEMORY_LIMIT = '256Mi';

/**
 * What the chart sets on the app container so that apps honouring proxy variables send their
 * http:// calls through the outbound listener; NO_PROXY keeps loopback and the cloud metadata
 * addresses direct, and NODE_USE_ENV_PROXY makes Node.js 24's http and fetch read them.
 */
export const APP_ENV: readonly { name: string; value: string }[] = (() => {
  const proxy = `http://127.0.0.1:${PORTS.outbound}`;
  const noProxy = 'localhost,127.0.0.1,::1,169.254.169.254,169.254.170.2';
  return [
    { name: 'HTTP_PROXY', value: proxy },
    { name: 'http_proxy', value: proxy },
    { name: 'NO_PROXY', value: noProxy },
    { name: 'no_proxy', value: noProxy },
    { name: 'NODE_USE_ENV_PROXY', value: '1' },
  ];
})();

/** Outrider's version (package.json), for the image tag and the outrider.io/injected annotation. */
export const VERSION: string = (
  JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string }
).version;

/** The chart's default image: repository `outrider`, tag = the chart's appVersion = VERSION. */
export const DEFAULT_IMAGE = `outrider:${VERSION}`;

/**
 * The image of the capture init container: the Dockerfile's `init` target (Debian with
 * iptables; ENTRYPOINT `outrider capture`), published beside the sidecar image as
 * `<repository>-init` with the same tag: registry.example/outrider:0.1.0 →
 * registry.example/outrider-init:0.1.0. A digest names one image only, so a sidecar pinned by
 * digest gets the init image of this version's tag. Change this one function to publish the
 * init image elsewhere.
 */
export function captureImageFor(image: string): string {
  const at = image.indexOf('@');
  const colon = image.lastIndexOf(':');
  if (at >= 0) return `${image.slice(0, at)}-init:${VERSION}`;
  // A colon after the last slash is a tag's; one before it is a registry's port.
  if (colon > image.lastIndexOf('/')) return `${image.slice(0, colon)}-init${image.slice(colon)}`;
  return `${image}-init`;
}
