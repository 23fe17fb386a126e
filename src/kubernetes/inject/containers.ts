/**
 * The objects injection adds to a pod: the Outrider sidecar, the capture init container and the
 * policy volume, built from a pod's checked settings. Plain JSON, in Kubernetes' field names.
 */
import type { PodSettings } from './annotations.js';
import { CAPTURE_NAME, EXCLUDED_OUTBOUND_PORTS, POLICY_FILE, POLICY_MOUNT, POLICY_VOLUME, PORTS, PROXY_UID, SIDECAR_NAME } from './defaults.js';

export type JsonObject = { [key: string]: unknown };

const httpGet = (path: string): JsonObject => ({ path, port: PORTS.admin });

/**
 * A native sidecar (an init container with restartPolicy: Always, Kubernetes 1.29+): started,
 * and its startup probe passed, before the app starts; stopped after the app has exited. As
 * the chart runs it: non-root, read-only root, no capabilities, probes on the admin server.
 */
export function sidecarContainer(image: string, settings: PodSettings): JsonObject {
  return {
    name: SIDECAR_NAME,
    image,
    imagePullPolicy: 'IfNotPresent',
    restartPolicy: 'Always',
    args: ['--config', POLICY_FILE],
    // The image sets the same by default; here so that a pod shows it and can change it.
    env: [{ name: 'NODE_OPTIONS', value: settings.nodeOptions }],
    // Names prefixed: a port name must be unique in the pod, and apps have their own "admin".
    ports: [
      { name: 'outrider-in', containerPort: PORTS.inbound, protocol: 'TCP' },
      { name: 'outrider-admin', containerPort: PORTS.admin, protocol: 'TCP' },
    ],
    startupProbe: { httpGet: httpGet('/readyz'), periodSeconds: 1, timeoutSeconds: 1, failureThreshold: 30 },
    readinessProbe: { httpGet: httpGet('/readyz'), periodSeconds: 5, timeoutSeconds: 1, failureThreshold: 2 },
    livenessProbe: { httpGet: httpGet('/healthz'), periodSeconds: 10, timeoutSeconds: 2, failureThreshold: 3 },
    resources: {
      requests: { cpu: settings.cpuRequest, memory: settings.memory.request },
      limits: { memory: settings.memory.limit },
    },
    securityContext: {
      runAsNonRoot: true,
      runAsUser: PROXY_UID,
      runAsGroup: PROXY_UID,
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ['ALL'] },
      seccompProfile: { type: 'RuntimeDefault' },
    },
    // The whole folder, not a subPath: ConfigMap updates reach it, and Outrider reloads them.
    volumeMounts: [{ name: POLICY_VOLUME, mountPath: POLICY_MOUNT, readOnly: true }],
  };
}

/** The policy volume: the ConfigMap, mounted by the sidecar as /etc/outrider. */
export function policyVolume(settings: PodSettings): JsonObject {
  return { name: POLICY_VOLUME, configMap: { name: settings.policy } };
}

/**
 * The init container that installs the iptables rules, before the sidecar. It is root with
 * NET_ADMIN and NET_RAW for that one job and exits; the pod's other containers stay non-root.
 * `appPorts` are the pod's TCP container ports, captured inbound unless the annotation says;
 * with none declared, every inbound port but the admin server's.
 */
export function captureContainer(image: string, settings: PodSettings, appPorts: readonly number[]): JsonObject {
  // The init image's ENTRYPOINT is `outrider capture`: these are its flags.
  const args = ['--proxy-uid', String(PROXY_UID), '--outbound-listener', String(PORTS.outbound), '--inbound-listener', String(PORTS.inbound)];
  // A pod that declares no port still serves on some: capture them all, as Istio does.
  const inbound = settings.inboundPorts ?? (appPorts.length > 0 ? appPorts.join(',') : 'all');
  args.push('--inbound-ports', inbound);
  // With every inbound port captured, the kubelet's probes must still reach the admin server.
  if (inbound === 'all') args.push('--exclude-inbound-ports', String(PORTS.admin));
  if (settings.outboundPorts !== undefined) args.push('--outbound-ports', settings.outboundPorts);
  const excluded = [...EXCLUDED_OUTBOUND_PORTS, ...(settings.excludeOutboundPorts?.split(',').map(Number) ?? [])];
  args.push('--exclude-outbound-ports', [...new Set(excluded)].join(','));
  return {
    name: CAPTURE_NAME,
    image,
    imagePullPolicy: 'IfNotPresent',
    args,
    // Node.js alone takes about 45 MiB: the request says so, and the limit leaves room.
    resources: { requests: { cpu: '10m', memory: '64Mi' }, limits: { memory: '128Mi' } },
    securityContext: {
      runAsUser: 0,
      runAsNonRoot: false,
      allowPrivilegeEscalation: false,
      // iptables takes its lock file under /run, as Istio's init container allows.
      readOnlyRootFilesystem: false,
      capabilities: { add: ['NET_ADMIN', 'NET_RAW'], drop: ['ALL'] },
    },
  };
}
