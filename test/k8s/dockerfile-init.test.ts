/**
 * The Dockerfile's `init` target, the capture init container (docs/kubernetes.md, "Capture"):
 * it has iptables and the same built app, runs `outrider capture` as root (it needs uid 0
 * with NET_ADMIN), and is not the last stage, so a plain `docker build .` still makes the
 * distroless, non-root sidecar, which has no iptables. The image-wide rules (pinned bases, one
 * Debian release, the final stage) are test/k8s/dockerfile.test.ts's.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { copies, lastOf, parseDockerfile, runsCommand, shellWords, stageNamed, type Dockerfile } from './fixtures/dockerfile.js';

const text = readFileSync(fileURLToPath(new URL('../../Dockerfile', import.meta.url)), 'utf8');

/** Every way the init target can be wrong, as sentences; empty when it is right. */
function initProblems(df: Dockerfile): string[] {
  const init = stageNamed(df, 'init');
  if (init === undefined) return ['no stage named init (docker build --target init)'];
  const problems: string[] = [];
  if (df.stages.at(-1) === init) problems.push('init is the last stage: a plain docker build would make the init image, not the sidecar');
  const install = init.instructions.find((i) => i.keyword === 'RUN' && /\bapt-get install\b/.test(i.rest));
  if (install === undefined || !/\biptables\b/.test(install.rest)) problems.push('init does not apt-get install iptables');
  else {
    if (!/--no-install-recommends/.test(install.rest)) problems.push('init installs iptables with recommended packages');
    if (!/rm -rf \/var\/lib\/apt\/lists/.test(install.rest)) problems.push('init keeps the apt lists in its layer');
  }
  const from = new Map(copies(init).flatMap((c) => c.sources.map((s) => [s.split('/').filter(Boolean).at(-1) ?? s, c.from] as const)));
  for (const what of ['node_modules', 'dist', 'bin', 'package.json']) if (!from.has(what)) problems.push(`init lacks ${what}`);
  for (const what of from.keys()) if (!['node_modules', 'dist', 'bin', 'package.json', 'schema'].includes(what)) problems.push(`init must not hold ${what}`);
  const modules = from.get('node_modules');
  const modulesStage = modules === undefined ? undefined : stageNamed(df, modules);
  if (modules !== undefined && (modulesStage === undefined || !runsCommand(modulesStage, /\bnpm ci\b.*--omit=dev/))) problems.push('init node_modules are not the production ones');
  const dist = from.get('dist');
  const distStage = dist === undefined ? undefined : stageNamed(df, dist);
  if (from.has('dist') && (distStage === undefined || !runsCommand(distStage, /\bnpm run build\b/))) problems.push('init dist does not come from the build stage');
  const entrypoint = lastOf(init, 'ENTRYPOINT')?.exec ?? [];
  if (!/(^|\/)node$/.test(entrypoint[0] ?? '') || !/bin\/outrider$/.test(entrypoint[1] ?? '') || entrypoint[2] !== 'capture') {
    problems.push(`init ENTRYPOINT should be node bin/outrider capture in exec form, not ${JSON.stringify(entrypoint)}`);
  }
  const user = shellWords(lastOf(init, 'USER')?.rest ?? '')[0]?.split(':')[0];
  if (user !== '0' && user !== 'root') problems.push(`init runs as ${user ?? 'an unstated user'}: iptables needs uid 0 (say USER 0:0)`);
  for (const stage of df.stages.filter((s) => s !== init)) {
    if (runsCommand(stage, /\biptables\b/)) problems.push(`stage ${stage.name ?? stage.index} installs iptables: only init may`);
  }
  return problems;
}

t.test('the init target keeps its rules', async (t) => {
  const df = parseDockerfile(text);
  t.same(initProblems(df), []);
  t.same(lastOf(df.stages.at(-1) as Dockerfile['stages'][number], 'USER')?.rest, '65532:65532', 'the default target is still the non-root sidecar');
});

t.test('each rule catches its mistake', async (t) => {
  const cases: [string, (s: string) => string, RegExp][] = [
    ['no init stage', (s) => s.replace('AS init', 'AS setup'), /no stage named init/],
    ['init last', (s) => `${s}\nFROM node:24-bookworm-slim AS init2\n`.replace('AS init\n', 'AS init0\n').replace('AS init2', 'AS init'), /init is the last stage/],
    ['no iptables', (s) => s.replace('--no-install-recommends iptables', '--no-install-recommends curl'), /does not apt-get install iptables/],
    ['recommends', (s) => s.replace('install -y --no-install-recommends iptables', 'install -y iptables'), /with recommended packages/],
    ['apt lists kept', (s) => s.replace(' \\\n && rm -rf /var/lib/apt/lists/*', ''), /keeps the apt lists/],
    ['no node_modules', (s) => s.replace('COPY --from=deps /app/node_modules ./node_modules\nCOPY --from=build /src/dist', 'COPY --from=build /src/dist'), /init lacks node_modules/],
    ['dev node_modules', (s) => s.replace('COPY --from=deps /app/node_modules', 'COPY --from=build /src/node_modules'), /not the production ones/],
    ['sources', (s) => s.replace('COPY bin ./bin\n# Root', 'COPY bin ./bin\nCOPY src ./src\n# Root'), /init must not hold src/],
    ['dist from deps', (s) => s.replace('COPY --from=build /src/dist ./dist', 'COPY --from=deps /src/dist ./dist'), /dist does not come from the build stage/],
    ['another entrypoint', (s) => s.replace('"/app/bin/outrider", "capture"]', '"/app/bin/outrider"]'), /ENTRYPOINT should be node bin\/outrider capture/],
    ['non-root init', (s) => s.replace('USER 0:0', 'USER 65532:65532'), /iptables needs uid 0/],
    ['iptables in the sidecar', (s) => s.replace('RUN --mount=type=cache,target=/root/.npm npm ci --omit=dev', 'RUN apt-get install -y iptables && npm ci --omit=dev'), /stage deps installs iptables: only init may/],
  ];
  for (const [what, mutate, expected] of cases) {
    const mutated = mutate(text);
    t.not(mutated, text, `${what}: the mutation applies`);
    t.match(initProblems(parseDockerfile(mutated)).join('\n'), expected, what);
  }
});
