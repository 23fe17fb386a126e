/**
 * The Dockerfile parses (dockerfile-ast, through test/k8s/fixtures/dockerfile.ts) and keeps the
 * image's rules: multi-stage, Node.js LTS pinned by major,
 * one Debian release, no shell needed at run time, non-root, the CLI as an exec-form
 * ENTRYPOINT reading /etc/outrider/outrider.yaml, the ports exposed, OCI labels, and only
 * production node_modules, dist/, bin/, schema/ and package.json in the final image. No
 * Docker engine runs here, so `docker build` itself is not part of this test.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import {
  copies,
  dockerignore,
  imageProblems,
  lastOf,
  parseDockerfile,
  shellWords,
  keyValues,
  type Dockerfile,
} from './fixtures/dockerfile.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const text = readFileSync(`${ROOT}Dockerfile`, 'utf8');

function replaceLast(s: string, what: string, by: string): string {
  const at = s.lastIndexOf(what);
  return at < 0 ? s : `${s.slice(0, at)}${by}${s.slice(at + what.length)}`;
}

t.test('the Dockerfile parses', async (t) => {
  const df = parseDockerfile(text);
  t.equal(df.directives.get('syntax'), 'docker/dockerfile:1', 'the syntax directive is read as a directive, not a comment');
  t.same(
    df.stages.map((s) => [s.name, s.base]),
    [
      ['build', 'node:24-bookworm-slim'],
      ['deps', 'node:24-bookworm-slim'],
      ['init', 'node:24-bookworm-slim'],
      ['runtime', 'gcr.io/distroless/nodejs24-debian12:nonroot'],
    ],
  );
  const runtime = df.stages.at(-1) as Dockerfile['stages'][number];
  t.same(lastOf(runtime, 'ENTRYPOINT')?.exec, ['/nodejs/bin/node', '/app/bin/outrider']);
  t.same(lastOf(runtime, 'CMD')?.exec, ['--config', '/etc/outrider/outrider.yaml']);
  const label = lastOf(runtime, 'LABEL');
  t.ok(label !== undefined && (keyValues(label).get('org.opencontainers.image.description') ?? '').includes('sidecar'), 'a continued LABEL line keeps its quoted values whole');
  t.same(
    copies(runtime).map((c) => c.sources[0]),
    ['/app/node_modules', '/src/dist', '/src/schema', 'package.json', 'bin'],
  );
  t.equal(df.stages[0]?.instructions.find((i) => i.keyword === 'RUN')?.flags.get('mount'), 'type=cache,target=/root/.npm');
});

t.test('the Dockerfile keeps every rule of the image', async (t) => {
  t.same(imageProblems(parseDockerfile(text)), []);
});

t.test('the rules catch what they are for (each mutation breaks one)', async (t) => {
  const cases: [string, (s: string) => string, RegExp][] = [
    ['one stage', (s) => `FROM node:24-bookworm-slim\nUSER 1000\nCOPY . .\nENTRYPOINT ["node", "bin/outrider"]\n${s.slice(0, 0)}`, /not multi-stage/],
    ['an unpinned base', (s) => s.replace('FROM node:24-bookworm-slim AS build', 'FROM node:latest AS build'), /node:latest is not pinned/],
    ['a base without a tag', (s) => s.replace('FROM node:24-bookworm-slim AS deps', 'FROM node AS deps'), /node is not pinned/],
    ['an older Node.js major', (s) => s.replace('nodejs24-debian12:nonroot AS', 'nodejs20-debian12:nonroot AS'), /Node\.js 20, not the LTS 24/],
    ['mixed Debian releases', (s) => s.replace('nodejs24-debian12:nonroot AS', 'nodejs24-debian13:nonroot AS'), /one Debian release/],
    ['root', (s) => s.replace('USER 65532:65532', 'USER root'), /USER root is root/],
    ['a user name', (s) => s.replace('USER 65532:65532', 'USER nonroot'), /not numeric/],
    ['no USER', (s) => s.replace('USER 65532:65532\n', ''), /sets no USER/],
    ['a shell-form entrypoint', (s) => s.replace('ENTRYPOINT ["/nodejs/bin/node", "/app/bin/outrider"]', 'ENTRYPOINT node /app/bin/outrider'), /shell form/],
    ['another policy path', (s) => s.replace('"/etc/outrider/outrider.yaml"', '"/config/policy.yaml"'), /does not read \/etc\/outrider\/outrider\.yaml/],
    ['a missing port', (s) => s.replace('EXPOSE 15001 15006 9901', 'EXPOSE 15006'), /EXPOSE lacks 15001/],
    ['a missing label', (s) => s.replace(/ \\\n\s+org\.opencontainers\.image\.revision="\$\{REVISION\}"/, ''), /revision missing/],
    ['a RUN at run time', (s) => s.replace('USER 65532:65532', 'RUN chmod -R a-w /app\nUSER 65532:65532'), /has RUN/],
    // The init stage copies the same files: these change the final (runtime) stage's copy.
    ['the whole context', (s) => replaceLast(s, 'COPY bin ./bin', 'COPY . .'), /must not hold \./],
    ['dev dependencies shipped', (s) => replaceLast(s, 'COPY --from=deps /app/node_modules', 'COPY --from=build /src/node_modules'), /does not run npm ci --omit=dev/],
    ['sources shipped', (s) => replaceLast(s, 'COPY bin ./bin', 'COPY bin ./bin\nCOPY src ./src'), /must not hold src/],
    ['dist from the context', (s) => replaceLast(s, 'COPY --from=build /src/dist ./dist', 'COPY dist ./dist'), /dist must come from a build stage/],
  ];
  for (const [what, mutate, expected] of cases) {
    const mutated = mutate(text);
    t.not(mutated, text, `${what}: the mutation applies to the current Dockerfile`);
    t.match(imageProblems(parseDockerfile(mutated)).join('\n'), expected, what);
  }
});

t.test('reading it rejects what Docker would misread', async (t) => {
  t.throws(() => parseDockerfile("FROM node:24-bookworm-slim\nCMD ['node', 'x.js']\n"), { name: 'DockerfileError', message: /not a JSON array/ }, 'single-quoted exec form (Docker runs it through a shell)');
  t.throws(() => parseDockerfile('FROM node:24-bookworm-slim\nRUNN npm ci\n'), /unknown instruction RUNN/);
  t.throws(() => parseDockerfile('FROM node:24-bookworm-slim\nRUN npm ci \\'), /ends inside a line continuation/);
  t.throws(() => parseDockerfile('FROM ${BASE}\n'), /no ARG before the first FROM/);
  t.equal(parseDockerfile('ARG MAJOR=24\nFROM node:${MAJOR}-bookworm-slim\n').stages[0]?.base, 'node:24-bookworm-slim', 'global ARGs substitute in FROM');
  const continued = parseDockerfile('FROM node:24-bookworm-slim\nRUN npm ci \\\n  # a comment inside\n  --omit=dev\n');
  t.equal(continued.stages[0]?.instructions[0]?.rest, 'npm ci --omit=dev', 'comments inside a continuation are dropped');
  t.same(shellWords(`a "b c" 'd e' f\\ g`), ['a', 'b c', 'd e', 'f g']);
});

t.test('.dockerignore sends only what the Dockerfile copies from the context', async (t) => {
  const ignored = dockerignore(readFileSync(`${ROOT}.dockerignore`, 'utf8'));
  const df = parseDockerfile(text);
  const fromContext = df.stages.flatMap((s) => copies(s).filter((c) => c.from === undefined).flatMap((c) => c.sources));
  t.ok(fromContext.length >= 5, `the context sources: ${fromContext.join(' ')}`);
  for (const source of fromContext) {
    t.notOk(ignored(source), `${source} reaches the builder`);
    t.notOk(ignored(`${source}/some/file.ts`), `files under ${source} reach the builder`);
  }
  for (const path of ['node_modules', 'node_modules/undici/index.js', 'dist/main.js', '.git/config', 'test/k8s/x.ts', 'bench/run.ts', '.env', 'charts/outrider/values.yaml', 'Dockerfile']) {
    t.ok(ignored(path), `${path} stays out of the context`);
  }
  t.notOk(dockerignore('*\n!src\nsrc/secret.txt\n')('src/a.ts'), 'a re-included folder');
  t.ok(dockerignore('*\n!src\nsrc/secret.txt\n')('src/secret.txt'), 'the last matching pattern wins');
});
