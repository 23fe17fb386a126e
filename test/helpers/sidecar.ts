/**
 * Start a real, in-process sidecar from a YAML string (written to a temp file, ports 0), and
 * send requests to its listeners and admin server with undici. Logs are captured in memory so
 * tests can assert on access-log lines without polluting TAP output.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { request } from 'undici';
import type { ListenerLimits } from '../../src/http/limits.js';
import { Sidecar } from '../../src/sidecar.js';

export interface CapturedLog {
  readonly lines: Record<string, unknown>[];
}

export interface TestSidecar {
  readonly sidecar: Sidecar;
  readonly file: string;
  readonly accessLog: CapturedLog;
  readonly opsLog: CapturedLog;
  url(listener?: string): string;
  admin(path: string): Promise<{ status: number; body: string; json: () => unknown }>;
  /** Replace the policy file (the watcher or `sidecar.reload()` picks it up). */
  rewrite(yaml: string): void;
  close(): Promise<void>;
}

function capture(): { log: CapturedLog; stream: { write(line: string): void } } {
  const log: CapturedLog = { lines: [] };
  return { log, stream: { write: (line: string) => void log.lines.push(JSON.parse(line) as Record<string, unknown>) } };
}

export function writePolicy(yaml: string, dir = mkdtempSync(join(tmpdir(), 'outrider-test-'))): string {
  const file = join(dir, 'outrider.yaml');
  writeFileSync(file, yaml);
  return file;
}

export async function startSidecar(yaml: string, options: { watch?: boolean; listenerLimits?: Partial<ListenerLimits> } = {}): Promise<TestSidecar> {
  const file = writePolicy(yaml);
  const access = capture();
  const ops = capture();
  const sidecar = await Sidecar.start({
    configFile: file,
    watch: options.watch ?? false,
    logger: pino({ base: undefined }, ops.stream),
    accessLog: access.stream,
    ...(options.listenerLimits ? { listenerLimits: options.listenerLimits } : {}),
  });
  return {
    sidecar,
    file,
    accessLog: access.log,
    opsLog: ops.log,
    url: (listener = 'outbound') => `http://127.0.0.1:${sidecar.listenerPort(listener)}`,
    admin: async (path) => {
      const res = await request(`http://127.0.0.1:${sidecar.adminPort()}${path}`);
      const body = await res.body.text();
      return { status: res.statusCode, body, json: () => JSON.parse(body) as unknown };
    },
    rewrite: (next) => writeFileSync(file, next),
    close: () => sidecar.shutdown(),
  };
}

/** The smallest policy: one listener, one upstream, one catch-all route. */
export function simplePolicy(upstreamUrl: string, extraRoute = ''): string {
  return `version: 1
admin: { address: 127.0.0.1:0 }
drainTimeout: 2s
listeners:
  - { name: outbound, address: 127.0.0.1:0 }
upstreams:
  app: { endpoints: [${upstreamUrl}] }
routes:
  - name: all
    match: { pathPrefix: / }
    upstream: app
${extraRoute}`;
}
