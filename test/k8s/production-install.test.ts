/**
 * Does what the image does, without Docker: lay out /app the way the Dockerfile's final stage
 * does (production node_modules from the deps stage's own `npm ci` command, dist/ and schema/
 * from the build, bin/ and package.json), then start the ENTRYPOINT + CMD with /app and the
 * policy path mapped to a temporary folder, serve requests, and drain on SIGTERM with exit 0.
 * The npm registry (or npm's cache) must be reachable; the install is bounded by a timeout.
 */
import { spawn, spawnSync } from 'node:child_process';
import { cpSync, existsSync, lstatSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { holding, until } from '../helpers/held.js';
import { send } from '../helpers/http.js';
import { startUpstream } from '../helpers/upstream.js';
import { freePort, waitReady } from '../e2e/process.js';
import { copies, lastOf, parseDockerfile, runsCommand, shellWords, stageNamed, type Stage } from './fixtures/dockerfile.js';
import { plainEnv } from './fixtures/chart.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const INSTALL_TIMEOUT_MS = 90_000; // inside tap's 120 s per file (.taprc)

const df = parseDockerfile(readFileSync(join(ROOT, 'Dockerfile'), 'utf8'));
const runtime = df.stages.at(-1) as Stage;
const app = lastOf(runtime, 'WORKDIR')?.rest ?? '/app';
const image = [...(lastOf(runtime, 'ENTRYPOINT')?.exec ?? []), ...(lastOf(runtime, 'CMD')?.exec ?? [])];

function bytesIn(path: string): number {
  const stat = lstatSync(path);
  if (!stat.isDirectory()) return stat.size;
  return readdirSync(path).reduce((sum, name) => sum + bytesIn(join(path, name)), 0);
}

/** Build /app in `dir` from the final stage's COPY lines; returns the npm ci command used. */
function layOut(dir: string): string[] {
  let npmCi: string[] = [];
  for (const copy of copies(runtime)) {
    const dest = join(dir, copy.dest.replace(/^\.\/?/, '').replace(new RegExp(`^${app}/?`), ''));
    if (copy.from === undefined) {
      for (const source of copy.sources) cpSync(join(ROOT, source), copy.dest.endsWith('/') ? join(dest, source) : dest, { recursive: true });
      continue;
    }
    const stage = stageNamed(df, copy.from) as Stage;
    const source = copy.sources[0] as string;
    if (source.endsWith('node_modules')) {
      // The deps stage, in a folder of its own: its COPY of the manifests, its npm ci command.
      const deps = mkdtempSync(join(tmpdir(), 'outrider-deps-'));
      for (const c of copies(stage).filter((c) => c.from === undefined)) {
        for (const s of c.sources) cpSync(join(ROOT, s), join(deps, s));
      }
      const run = stage.instructions.find((i) => i.keyword === 'RUN' && /\bnpm ci\b/.test(i.rest));
      npmCi = shellWords(run?.rest ?? '');
      const result = spawnSync(npmCi[0] as string, [...npmCi.slice(1), '--prefer-offline'], {
        cwd: deps,
        encoding: 'utf8',
        timeout: INSTALL_TIMEOUT_MS,
        env: { ...plainEnv(), npm_config_update_notifier: 'false' },
      });
      if (result.status !== 0) throw new Error(`${npmCi.join(' ')} failed (${result.error?.message ?? `exit ${result.status}`}):\n${result.stderr}`);
      cpSync(join(deps, 'node_modules'), dest, { recursive: true });
      rmSync(deps, { recursive: true, force: true });
    } else {
      // dist/ and schema/ come from `npm run build`, which this repository's test run did first.
      if (!runsCommand(stage, /\bnpm run build\b/)) throw new Error(`stage ${copy.from} does not build`);
      const local = join(ROOT, source.replace(/^\/src\//, ''));
      if (!existsSync(local)) throw new Error(`${local} is missing: run npm run build first`);
      cpSync(local, dest, { recursive: true });
    }
  }
  return npmCi;
}

t.test('a production install starts from the image command, serves, and drains on SIGTERM', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'outrider-image-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));

  const npmCi = layOut(dir);
  t.match(npmCi.join(' '), /^npm ci .*--omit=dev/, `installed with the deps stage's command: ${npmCi.join(' ')}`);
  t.same(readdirSync(dir).sort(), ['bin', 'dist', 'node_modules', 'package.json', 'schema']);
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { dependencies: Record<string, string>; devDependencies: Record<string, string> };
  for (const name of Object.keys(pkg.dependencies)) t.ok(existsSync(join(dir, 'node_modules', name, 'package.json')), `dependency ${name} is installed`);
  // A dev dependency that a production one needs too (@kubernetes/client-node needs ws and
  // @types/node) is installed, rightly; package-lock.json says which are dev-only.
  const lock = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8')) as { packages: Record<string, { dev?: boolean }> };
  for (const name of Object.keys(pkg.devDependencies)) {
    if (lock.packages[`node_modules/${name}`]?.dev === true) t.notOk(existsSync(join(dir, 'node_modules', name)), `dev dependency ${name} is not`);
    else t.ok(existsSync(join(dir, 'node_modules', name)), `dev dependency ${name} is, as a production one needs it`);
  }
  const mib = (n: number): string => `${(n / 1024 / 1024).toFixed(1)} MiB`;
  t.comment(`what Outrider adds to the base image: ${mib(bytesIn(dir))} (node_modules ${mib(bytesIn(join(dir, 'node_modules')))}, dist ${mib(bytesIn(join(dir, 'dist')))})`);

  // The image's command, with /nodejs/bin/node → this node, /app → dir, the policy → a temp file.
  const policyFile = join(mkdtempSync(join(tmpdir(), 'outrider-etc-')), 'outrider.yaml');
  t.teardown(() => rmSync(join(policyFile, '..'), { recursive: true, force: true }));
  const command = (args: string[] = image.slice(2)): [string, string[]] => [
    process.execPath,
    [image[1]?.replace(new RegExp(`^${app}`), dir) ?? '', ...args.map((a) => (a === '/etc/outrider/outrider.yaml' ? policyFile : a))],
  ];
  t.match(image[0], /\/node$/, 'the entrypoint is node');
  t.same(image.slice(2), ['--config', '/etc/outrider/outrider.yaml']);

  const version = spawnSync(...command(['--version']), { cwd: dir, encoding: 'utf8', env: plainEnv() });
  t.equal(version.stdout.trim(), `outrider ${JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).version as string}`, '--version reads the shipped package.json');
  const validate = spawnSync(...command(['validate', join(ROOT, 'config/outrider.yaml')]), { cwd: dir, encoding: 'utf8', env: plainEnv() });
  t.equal(validate.status, 0, `validate through the image command: ${validate.stdout}${validate.stderr}`);

  const held = holding();
  const upstream = await startUpstream(held.behaviour);
  t.teardown(() => upstream.close());
  const [outbound, inbound, admin] = [await freePort(), await freePort(), await freePort()];
  writeFileSync(
    policyFile,
    `version: 1
admin: { address: 127.0.0.1:${admin} }
drainTimeout: 10s
accessLog: off
listeners:
  - { name: outbound, address: 127.0.0.1:${outbound} }
  - { name: inbound, address: 127.0.0.1:${inbound} }
upstreams:
  local-app: { endpoints: [${upstream.url}] }
routes:
  - { name: app, listener: inbound, match: { pathPrefix: / }, upstream: local-app }
`,
  );
  const [bin, args] = command();
  const child = spawn(bin, args, { cwd: dir, env: { ...plainEnv(), NODE_ENV: 'production' }, stdio: ['ignore', 'ignore', 'pipe'] });
  const stderr: string[] = [];
  child.stderr.on('data', (c: Buffer) => stderr.push(c.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  t.teardown(() => void child.kill('SIGKILL'));
  await waitReady(admin);

  const first = send(`http://127.0.0.1:${inbound}`, '/hello');
  await until(() => held.count === 1, 'the first request at the upstream');
  held.release(200);
  const reply = await first;
  t.equal(reply.status, 200, 'a request through the inbound listener reaches the upstream');
  t.equal(reply.body, 'released');
  t.equal(upstream.requests[0]?.url, '/hello');
  t.match((await send(`http://127.0.0.1:${admin}`, '/metrics')).body, /^outrider_/m, 'metrics are served');

  // SIGTERM with a request in flight: it completes, then the process exits 0.
  const inFlight = send(`http://127.0.0.1:${inbound}`, '/slow');
  await until(() => held.count === 1, 'the in-flight request at the upstream');
  child.kill('SIGTERM');
  await until(async () => (await send(`http://127.0.0.1:${admin}`, '/readyz').catch(() => undefined))?.status !== 200, 'readiness to turn false');
  held.release(200);
  t.equal((await inFlight).status, 200, 'the in-flight request finished during the drain');
  t.equal(await exited, 0, `exit 0 after the drain${stderr.length > 0 ? `; stderr: ${stderr.join('').slice(-500)}` : ''}`);
});
