/**
 * The API server as discovery reaches it: where it is and with which credentials
 * (@kubernetes/client-node's KubeConfig), the pod's own namespace, and a JSON GET with a
 * deadline. Loaded only with watch.ts, i.e. only when an upstream uses `kubernetes:`.
 *
 * Lists are plain GETs with the KubeConfig's credentials (its applyToHTTPSOptions, as its own
 * Watch uses) rather than the generated API client, because that client's calls cannot be
 * given a deadline: a list that never answers would stall discovery for good.
 */
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, join } from 'node:path';
import * as http from '../../http/node-http.js';
import https from 'node:https';
import { KubeConfig } from '@kubernetes/client-node';

/** Where kubelet mounts the pod's service account: token, ca.crt, namespace. */
export const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

/**
 * The credentials, in kubectl's order but with the pod first when nothing else is said:
 * KUBECONFIG when set (its first file; tests, and running outside a cluster), else in-cluster (the service
 * account; KUBERNETES_SERVICE_HOST/PORT are set in every pod), else ~/.kube/config.
 */
export function loadKubeConfig(env: NodeJS.ProcessEnv, serviceAccountPrefix = ''): KubeConfig {
  const kc = new KubeConfig();
  const home = join(env.HOME ?? homedir(), '.kube', 'config');
  const kubeconfig = (env.KUBECONFIG ?? '').split(delimiter).find((file) => file !== '');
  if (kubeconfig !== undefined) {
    kc.loadFromFile(kubeconfig);
  } else if ((env.KUBERNETES_SERVICE_HOST ?? '') !== '' && (env.KUBERNETES_SERVICE_PORT ?? '') !== '') {
    const token = `${serviceAccountPrefix}${SERVICE_ACCOUNT_DIR}/token`;
    // The chart's default pod mounts no token; say what is missing rather than ENOENT later.
    if (!existsSync(token)) throw new Error(`in a pod, but there is no service account token at ${token}: mount one (automountServiceAccountToken, or a projected token)`);
    kc.loadFromCluster(serviceAccountPrefix);
  } else if (existsSync(home)) {
    kc.loadFromFile(home);
  } else {
    throw new Error('no Kubernetes API server configured: not in a pod (KUBERNETES_SERVICE_HOST), and no KUBECONFIG or ~/.kube/config');
  }
  return kc;
}

/** The pod's namespace: POD_NAMESPACE (the downward API), else the service account's file. */
export function podNamespace(env: NodeJS.ProcessEnv, serviceAccountPrefix = ''): string | undefined {
  const fromEnv = env.POD_NAMESPACE?.trim() ?? '';
  if (fromEnv !== '') return fromEnv;
  try {
    const fromFile = readFileSync(`${serviceAccountPrefix}${SERVICE_ACCOUNT_DIR}/namespace`, 'utf8').trim();
    return fromFile === '' ? undefined : fromFile;
  } catch {
    return undefined;
  }
}

/** An answer other than 2xx: its status and the API's own message (a v1 Status). */
export class ApiError extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
  }
}

/** GET `path` from the API server as JSON; rejects on a non-2xx answer or after `timeoutMs`. */
export async function getJson(kc: KubeConfig, path: string, timeoutMs: number): Promise<unknown> {
  const server = kc.getCurrentCluster()?.server ?? '';
  const url = new URL(server.replace(/\/+$/, '') + path);
  const what = `GET ${url.pathname}`;
  const options: https.RequestOptions = { headers: { accept: 'application/json' } };
  await kc.applyToHTTPSOptions(options);
  const client = url.protocol === 'http:' ? http : https;
  return new Promise((resolve, reject) => {
    const req = client.get(url, { ...options, signal: AbortSignal.timeout(timeoutMs) }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('error', reject);
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        const status = res.statusCode ?? 0;
        if (status < 200 || status > 299) return reject(new ApiError(status, `${what}: HTTP ${status}${statusMessage(text)}`));
        try {
          resolve(JSON.parse(text) as unknown);
        } catch {
          reject(new Error(`${what}: the answer is not JSON`));
        }
      });
    });
    req.on('error', (err: Error) => reject(new Error(`${what}: ${err.name === 'AbortError' ? `no answer within ${timeoutMs} ms` : err.message}`)));
  });
}

/** `: <message>` from a v1 Status body, else nothing. */
function statusMessage(text: string): string {
  try {
    const body = JSON.parse(text) as { message?: unknown };
    return typeof body.message === 'string' && body.message !== '' ? `: ${body.message}` : '';
  } catch {
    return '';
  }
}
