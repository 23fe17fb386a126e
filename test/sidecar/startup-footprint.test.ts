/**
 * Nothing loaded at start that the policy does not use (issue 16, memory). The real binary runs
 * a plain policy (one listener, one listed upstream, no pattern) with a preload that records
 * every CommonJS module and every Node built-in it loaded (test/fixtures/loader); none of the
 * entry points below, each of which loads far more than the sidecar uses, may be among them.
 * The RSS each one cost on Node 24.22 is in the source file named beside it. And once ready, the
 * CLI gives back the young generation start-up grew (src/sidecar/release-startup-memory.ts).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { shippedEnv, shippedRuntime } from '../../bench/lib/runtimes.js';
import { BIN, freePort, waitReady } from '../e2e/process.js';

const PRELOAD = new URL('../fixtures/loader/record-loaded-modules.mjs', import.meta.url).href;

/** Dependency files (below node_modules/) that must stay unloaded, and where each is avoided. */
const NOT_LOADED: readonly [RegExp, string][] = [
  [/^prom-client\/index\.js$/, "prom-client's index (src/observability/prom.ts)"],
  [/^@opentelemetry\//, 'OpenTelemetry, through prom-client\'s CPU metric (src/observability/prom.ts)'],
  [/^prom-client\/lib\/(pushgateway|cluster|summary)\.js$/, "prom-client's Pushgateway, cluster aggregator and Summary"],
  [/^hdr-histogram-js\/dist\/(index\.js|wasm\/|HistogramLogWriter\.js)/, "hdr-histogram-js's index and WebAssembly build (src/policies/hedge/latency-window.ts)"],
  [/^pako\//, 'pako (hdr-histogram-js\'s WebAssembly build)'],
  [/^undici\/index\.js$/, "undici's index: fetch, WebSocket, caches (src/upstream/endpoint-pool.ts)"],
  [/^@sinclair\/typebox\//, 'TypeBox: the build precompiles the policy validator (src/config/schema-findings.ts)'],
  [/^ajv\/dist\/(ajv|core|compile\/index)\.js$/, "Ajv's compiler: the validator is precompiled"],
  [/^@kubernetes\/client-node\//, '@kubernetes/client-node: only with a kubernetes: upstream'],
];

/** The real CLI on `policy` (ADMIN: a free port), in a plain environment: the test runner's NODE_OPTIONS would load its own hooks into it. */
async function startCli(
  policy: string,
  options: { node?: string; args?: readonly string[]; env?: Record<string, string>; stderr?: 'pipe' | 'ignore' } = {},
): Promise<{ child: ChildProcess; admin: number; stop: () => Promise<unknown> }> {
  const dir = mkdtempSync(join(tmpdir(), 'outrider-footprint-'));
  const admin = await freePort();
  const file = join(dir, 'outrider.yaml');
  writeFileSync(file, policy.replace('ADMIN', String(admin)));
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== 'NODE_OPTIONS' && !/^_?TAP/.test(k)));
  const child = spawn(options.node ?? process.execPath, [...(options.args ?? []), BIN, '--config', file], {
    stdio: ['ignore', 'ignore', options.stderr ?? 'ignore'],
    env: { ...env, ...options.env },
  });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  const stop = (): Promise<unknown> => {
    child.kill('SIGTERM');
    return exited;
  };
  return { child, admin, stop };
}

const PLAIN_POLICY = `version: 1
admin: { address: 127.0.0.1:ADMIN }
accessLog: off
listeners: [ { name: outbound, address: 127.0.0.1:0 } ]
upstreams: { app: { endpoints: [ "http://127.0.0.1:9" ] } }
routes: [ { name: all, upstream: app } ]
`;

async function loadedBy(policy: string): Promise<{ deps: string[]; builtin: string[] }> {
  const log = join(mkdtempSync(join(tmpdir(), 'outrider-modules-')), 'modules.json');
  const cli = await startCli(policy, { args: ['--import', PRELOAD], env: { OUTRIDER_MODULE_LOG: log } });
  try {
    await waitReady(cli.admin);
  } finally {
    await cli.stop();
  }
  const { cjs, builtin } = JSON.parse(readFileSync(log, 'utf8')) as { cjs: string[]; builtin: string[] };
  const deps = cjs.filter((f) => f.includes('/node_modules/')).map((f) => f.slice(f.lastIndexOf('/node_modules/') + '/node_modules/'.length));
  return { deps, builtin };
}

t.test('a plain policy: none of the heavy entry points is loaded', async (t) => {
  const { deps, builtin } = await loadedBy(PLAIN_POLICY);
  t.ok(deps.includes('prom-client/lib/registry.js') && deps.includes('yaml/dist/index.js'), `the preload sees the dependencies (${deps.length} files)`);
  for (const [pattern, what] of NOT_LOADED) t.same(deps.filter((d) => pattern.test(d)), [], `not loaded: ${what}`);
  // An ESM import of node:http reads http.WebSocket, which loads Node's bundled undici (Node 22+; src/http/node-http.ts).
  t.notOk(builtin.includes('NativeModule internal/deps/undici/undici'), "Node's bundled undici (fetch, WebSocket) is not loaded");
});

/** The CLI's first log line (stderr; stdout is the access log's) whose msg is `msg`, parsed (bounded by the child's exit). */
function logLine(child: ChildProcess, msg: string): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    let text = '';
    const onData = (chunk: Buffer): void => {
      text += chunk.toString();
      const line = text.split('\n').find((l) => l.includes(`"msg":"${msg}"`));
      if (line === undefined) return;
      child.stderr?.off('data', onData);
      resolve(JSON.parse(line) as Record<string, unknown>);
    };
    child.stderr?.on('data', onData);
    child.once('exit', () => reject(new Error(`exited before logging "${msg}": ${text}`)));
  });
}

t.test('on the image\'s Node.js, the CLI gives back once ready the young generation start-up grew (src/sidecar/release-startup-memory.ts)', async (t) => {
  // The image's Node and environment, as a pod runs it; the bench fetched that Node into
  // bench/.runtimes (CI runs the bench's smoke before the tests), or this fetches it.
  const runtime = shippedRuntime((m) => t.comment(m));
  if (!runtime.ok) throw new Error(`the image's Node.js is not available: ${runtime.reason}`);
  const cli = await startCli(PLAIN_POLICY, { node: runtime.node, env: shippedEnv(), stderr: 'pipe' });
  t.teardown(cli.stop);
  const { youngBefore, youngAfter } = (await logLine(cli.child, 'released start-up memory')) as { youngBefore: number; youngAfter: number };
  t.ok(youngBefore > youngAfter, `Node ${runtime.version}: the young generation shrank from ${youngBefore} to ${youngAfter} bytes`);
  t.ok(youngAfter <= 1024 * 1024, `and is at most 1 MiB once ready (${youngAfter} bytes)`);
});
