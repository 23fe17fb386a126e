/**
 * For the injector tests: AdmissionReviews as the API server sends them (admission.k8s.io/v1,
 * a Pod CREATE as a controller makes it from a template), an HTTPS client that trusts the
 * test CA, and a log captured in memory.
 */
import { request } from 'node:https';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { pino, type Logger } from 'pino';

export const TLS_DIR = fileURLToPath(new URL('../../fixtures/tls/', import.meta.url));
const CA = readFileSync(`${TLS_DIR}ca.crt`);

/* eslint-disable @typescript-eslint/no-explicit-any -- reviews and pods are free-form JSON */
type Any = any;

/** The Pod a controller creates from `template` (what the webhook sees: not the Deployment). */
export function podFrom(template: Any, owner: string): Any {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { ...structuredClone(template.metadata ?? {}), generateName: `${owner}-`, namespace: 'shop', ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: owner, uid: '5f1c7f4e-0000-4000-8000-000000000001', controller: true }] },
    spec: structuredClone(template.spec),
  };
}

export function review(object: unknown, overrides: Record<string, unknown> = {}): Any {
  return {
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid: '705ab4f5-6393-11e8-b7cc-42010a800002',
      kind: { group: '', version: 'v1', kind: 'Pod' },
      resource: { group: '', version: 'v1', resource: 'pods' },
      requestKind: { group: '', version: 'v1', kind: 'Pod' },
      requestResource: { group: '', version: 'v1', resource: 'pods' },
      namespace: 'shop',
      operation: 'CREATE',
      userInfo: { username: 'system:serviceaccount:kube-system:replicaset-controller', groups: ['system:serviceaccounts'] },
      object,
      oldObject: null,
      dryRun: false,
      options: { apiVersion: 'meta.k8s.io/v1', kind: 'CreateOptions' },
      ...overrides,
    },
  };
}

export interface Reply {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: string;
  json(): Any;
}

/** One HTTPS request to 127.0.0.1:port (a new connection each time), trusting the test CA. */
export function call(port: number, method: string, path: string, body?: string | Buffer, headers: Record<string, string> = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method, path, ca: CA, servername: 'localhost', agent: false, headers: { 'content-type': 'application/json', ...headers } }, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => (text += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text, json: () => JSON.parse(text) }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

export function capturedLog(): { log: Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  return { log: pino({ base: undefined }, { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) }), lines };
}
