/**
 * A small Dockerfile parser (the subset of the Dockerfile reference this project may use:
 * parser directives, comments, line continuations, flags, exec (JSON) and shell forms, ARG
 * substitution in FROM) and the rules the image must keep. There is no Docker engine on these
 * machines, so this is what checks the Dockerfile here; `docker build` checks the rest.
 */

export const INSTRUCTIONS = new Set([
  'ADD', 'ARG', 'CMD', 'COPY', 'ENTRYPOINT', 'ENV', 'EXPOSE', 'FROM', 'HEALTHCHECK', 'LABEL',
  'MAINTAINER', 'ONBUILD', 'RUN', 'SHELL', 'STOPSIGNAL', 'USER', 'VOLUME', 'WORKDIR',
]);
const EXEC_FORM = new Set(['RUN', 'CMD', 'ENTRYPOINT', 'SHELL', 'COPY', 'ADD', 'VOLUME']);

export interface Instruction {
  readonly keyword: string;
  /** Line (1-based) where the instruction starts. */
  readonly line: number;
  /** `--name=value` flags (RUN --mount, COPY --from, FROM --platform…). */
  readonly flags: ReadonlyMap<string, string>;
  /** The arguments after the flags, continuation lines joined with a space. */
  readonly rest: string;
  /** Exec form: the JSON array; undefined in shell form. */
  readonly exec?: readonly string[];
}

export interface Stage {
  readonly index: number;
  /** The base image after ARG substitution (`FROM image AS name`). */
  readonly base: string;
  readonly name?: string;
  readonly from: Instruction;
  readonly instructions: readonly Instruction[];
}

export interface Dockerfile {
  readonly directives: ReadonlyMap<string, string>;
  /** ARGs declared before the first FROM, with their defaults. */
  readonly globalArgs: ReadonlyMap<string, string>;
  readonly stages: readonly Stage[];
}

export class DockerfileError extends Error {
  override readonly name = 'DockerfileError';
}

/** Split a shell-form argument string into words, honouring quotes and backslashes. */
export function shellWords(text: string): string[] {
  const words: string[] = [];
  let word = '';
  let inWord = false;
  let quote: '"' | "'" | undefined;
  for (let i = 0; i < text.length; i++) {
    const c = text[i] as string;
    if (quote !== undefined) {
      if (c === quote) quote = undefined;
      else if (c === '\\' && quote === '"' && i + 1 < text.length) word += text[++i];
      else word += c;
    } else if (c === '"' || c === "'") {
      quote = c;
      inWord = true;
    } else if (c === '\\' && i + 1 < text.length) {
      word += text[++i];
      inWord = true;
    } else if (/\s/.test(c)) {
      if (inWord) words.push(word);
      word = '';
      inWord = false;
    } else {
      word += c;
      inWord = true;
    }
  }
  if (quote !== undefined) throw new DockerfileError(`unterminated ${quote} quote in: ${text}`);
  if (inWord) words.push(word);
  return words;
}

/** `key=value` pairs of LABEL and ENV (the legacy `ENV key value` form too). */
export function keyValues(instruction: Instruction): Map<string, string> {
  const words = shellWords(instruction.rest);
  const pairs = new Map<string, string>();
  if (instruction.keyword === 'ENV' && words.length >= 2 && !(words[0] as string).includes('=')) {
    pairs.set(words[0] as string, words.slice(1).join(' '));
    return pairs;
  }
  for (const word of words) {
    const eq = word.indexOf('=');
    if (eq <= 0) throw new DockerfileError(`line ${instruction.line}: ${instruction.keyword} expects key=value, got "${word}"`);
    pairs.set(word.slice(0, eq), word.slice(eq + 1));
  }
  return pairs;
}

function substitute(text: string, args: ReadonlyMap<string, string>, line: number): string {
  return text.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)/g, (_m, braced: string, bare: string) => {
    const name = braced ?? bare;
    const value = args.get(name);
    if (value === undefined) throw new DockerfileError(`line ${line}: FROM uses $${name}, which no ARG before the first FROM declares`);
    return value;
  });
}

export function parseDockerfile(text: string): Dockerfile {
  const lines = text.split(/\r?\n/);
  const directives = new Map<string, string>();
  let i = 0;
  // Parser directives: `# key=value` lines at the very top, before any comment, blank or instruction.
  for (; i < lines.length; i++) {
    const m = /^#\s*([A-Za-z]+)\s*=\s*(\S+)\s*$/.exec(lines[i] as string);
    if (m === null) break;
    directives.set((m[1] as string).toLowerCase(), m[2] as string);
  }
  const escape = directives.get('escape') ?? '\\';
  if (escape !== '\\' && escape !== '`') throw new DockerfileError(`invalid escape directive: ${escape}`);

  const logical: { line: number; text: string }[] = [];
  let current: { line: number; parts: string[] } | undefined;
  for (; i < lines.length; i++) {
    const raw = lines[i] as string;
    const trimmed = raw.trim();
    if (trimmed.startsWith('#')) continue; // comments, also between continuation lines
    if (current === undefined && trimmed === '') continue;
    const continues = trimmed.endsWith(escape) && !trimmed.endsWith(escape + escape);
    const body = continues ? trimmed.slice(0, -1).trimEnd() : trimmed;
    if (current === undefined) current = { line: i + 1, parts: [] };
    if (body !== '') current.parts.push(body);
    if (!continues) {
      logical.push({ line: current.line, text: current.parts.join(' ') });
      current = undefined;
    }
  }
  if (current !== undefined) throw new DockerfileError(`line ${current.line}: the file ends inside a line continuation`);

  const globalArgs = new Map<string, string>();
  const stages: Stage[] = [];
  let stage: { index: number; base: string; name?: string; from: Instruction; instructions: Instruction[] } | undefined;
  for (const { line, text: source } of logical) {
    const m = /^(\S+)\s*(.*)$/.exec(source) as RegExpExecArray;
    const keyword = (m[1] as string).toUpperCase();
    if (!INSTRUCTIONS.has(keyword)) throw new DockerfileError(`line ${line}: unknown instruction ${m[1]}`);
    let rest = m[2] as string;
    if (/<<-?["']?[A-Za-z_]/.test(rest) && (keyword === 'RUN' || keyword === 'COPY' || keyword === 'ADD')) {
      throw new DockerfileError(`line ${line}: heredocs are not supported by this parser; keep the Dockerfile plain`);
    }
    const flags = new Map<string, string>();
    for (;;) {
      const flag = /^--([a-z-]+)(?:=(\S*))?\s*/.exec(rest);
      if (flag === null) break;
      flags.set(flag[1] as string, flag[2] ?? 'true');
      rest = rest.slice(flag[0].length);
    }
    let exec: string[] | undefined;
    if (EXEC_FORM.has(keyword) && rest.startsWith('[')) {
      let parsed: unknown;
      try {
        parsed = JSON.parse(rest);
      } catch {
        // Docker would silently run this as a shell command: always a mistake here.
        throw new DockerfileError(`line ${line}: ${keyword} looks like exec form but is not a JSON array (use double quotes)`);
      }
      if (!Array.isArray(parsed) || !parsed.every((x) => typeof x === 'string')) {
        throw new DockerfileError(`line ${line}: ${keyword} exec form must be a JSON array of strings`);
      }
      exec = parsed;
    }
    const instruction: Instruction = { keyword, line, flags, rest, ...(exec === undefined ? {} : { exec }) };

    if (keyword === 'FROM') {
      if (stage !== undefined) stages.push(stage);
      const words = shellWords(rest);
      if (!(words.length === 1 || (words.length === 3 && (words[1] as string).toLowerCase() === 'as'))) {
        throw new DockerfileError(`line ${line}: FROM expects "image [AS name]"`);
      }
      const base = substitute(words[0] as string, globalArgs, line);
      stage = { index: stages.length, base, from: instruction, instructions: [], ...(words[2] === undefined ? {} : { name: words[2].toLowerCase() }) };
    } else if (stage === undefined) {
      if (keyword !== 'ARG') throw new DockerfileError(`line ${line}: only ARG may come before the first FROM, not ${keyword}`);
      for (const word of shellWords(rest)) {
        const eq = word.indexOf('=');
        globalArgs.set(eq < 0 ? word : word.slice(0, eq), eq < 0 ? '' : word.slice(eq + 1));
      }
    } else {
      stage.instructions.push(instruction);
    }
  }
  if (stage === undefined) throw new DockerfileError('no FROM instruction');
  stages.push(stage);
  const names = stages.flatMap((s) => (s.name === undefined ? [] : [s.name]));
  if (new Set(names).size !== names.length) throw new DockerfileError(`stage names repeat: ${names.join(', ')}`);
  return { directives, globalArgs, stages };
}

// ---------------------------------------------------------------------------------------------
// The rules of this project's image (issue 6).

/** The current Node.js LTS major; the image pins it. Node 24 is Active LTS from October 2025. */
export const NODE_LTS_MAJOR = 24;
export const POLICY_PATH = '/etc/outrider/outrider.yaml';
export const PORTS = { outbound: 15001, inbound: 15006, admin: 9901 } as const;
export const REQUIRED_LABELS = ['title', 'description', 'version', 'revision', 'licenses'].map((k) => `org.opencontainers.image.${k}`);

/** A base image reference split up: registry/repository, tag, digest. */
export function imageRef(ref: string): { repository: string; tag?: string; digest?: string } {
  const [nameTag, digest] = ref.split('@') as [string, string | undefined];
  const slash = nameTag.lastIndexOf('/');
  const colon = nameTag.lastIndexOf(':');
  const hasTag = colon > slash;
  return {
    repository: hasTag ? nameTag.slice(0, colon) : nameTag,
    ...(hasTag ? { tag: nameTag.slice(colon + 1) } : {}),
    ...(digest === undefined ? {} : { digest }),
  };
}

/** The Node.js major an image ref pins (node:24-…, …/nodejs24-debian12), if it is a Node image. */
export function nodeMajor(ref: string): number | undefined {
  const { repository, tag } = imageRef(ref);
  if (/(^|\/)node$/.test(repository)) {
    const m = /^(\d+)(?:[.-]|$)/.exec(tag ?? '');
    return m === null ? Number.NaN : Number(m[1]);
  }
  const m = /(?:^|\/)nodejs(\d+)(?:-|$)/.exec(repository);
  return m === null ? undefined : Number(m[1]);
}

/** The Debian release an image is built on, as a number (bookworm → 12), if its name says. */
export function debianRelease(ref: string): number | undefined {
  const names: Record<string, number> = { bullseye: 11, bookworm: 12, trixie: 13 };
  const m = /(bullseye|bookworm|trixie)|debian(\d+)/.exec(ref);
  if (m === null) return undefined;
  return m[1] !== undefined ? names[m[1]] : Number(m[2]);
}

export function runsCommand(stage: Stage, pattern: RegExp): boolean {
  return stage.instructions.some((i) => i.keyword === 'RUN' && pattern.test(i.exec?.join(' ') ?? i.rest));
}

export function lastOf(stage: Stage, keyword: string): Instruction | undefined {
  return stage.instructions.filter((i) => i.keyword === keyword).at(-1);
}

/** The stage a `COPY --from=` names, by name or index. */
export function stageNamed(df: Dockerfile, ref: string): Stage | undefined {
  return /^\d+$/.test(ref) ? df.stages[Number(ref)] : df.stages.find((s) => s.name === ref.toLowerCase());
}

export interface Copy {
  readonly line: number;
  readonly from?: string;
  readonly sources: readonly string[];
  readonly dest: string;
}

export function copies(stage: Stage): Copy[] {
  return stage.instructions
    .filter((i) => i.keyword === 'COPY' || i.keyword === 'ADD')
    .map((i) => {
      const words = i.exec ?? shellWords(i.rest);
      const from = i.flags.get('from');
      return { line: i.line, ...(from === undefined ? {} : { from }), sources: words.slice(0, -1), dest: words.at(-1) ?? '' };
    });
}

/** Every way the Dockerfile breaks the image's rules; empty when it keeps them all. */
export function imageProblems(df: Dockerfile): string[] {
  const problems: string[] = [];
  const final = df.stages.at(-1) as Stage;
  if (df.stages.length < 2) problems.push('not multi-stage: build in one stage, run in another');

  for (const stage of df.stages) {
    // Pinned: a digest, a tag with a version in it (node:24-bookworm-slim), or a repository
    // whose name carries the version (distroless/nodejs24-debian12:nonroot).
    const { repository, tag, digest } = imageRef(stage.base);
    const versionedName = /\d/.test(repository.split('/').at(-1) ?? '');
    if (digest === undefined && !(tag !== undefined && /\d/.test(tag)) && !(versionedName && tag !== undefined)) {
      problems.push(`line ${stage.from.line}: ${stage.base} is not pinned to a version (a major at least)`);
    }
    const major = nodeMajor(stage.base);
    if (major !== undefined && major !== NODE_LTS_MAJOR) {
      problems.push(`line ${stage.from.line}: ${stage.base} is Node.js ${Number.isNaN(major) ? '(no major in the tag)' : major}, not the LTS ${NODE_LTS_MAJOR}`);
    }
  }
  const releases = new Set(df.stages.map((s) => debianRelease(s.base)));
  if (releases.size !== 1 || releases.has(undefined)) {
    problems.push(`every stage should name one Debian release (glibc of the build = glibc of the run); found ${[...releases].join(', ')}`);
  }
  if (nodeMajor(final.base) === undefined) problems.push(`the final stage (${final.base}) is not a Node.js image`);

  // Run time: no shell needed, non-root, the CLI as the entrypoint.
  if (final.instructions.some((i) => i.keyword === 'RUN')) problems.push('the final stage has RUN: it needs a shell, and the runtime image has none');
  const user = lastOf(final, 'USER');
  const uid = user === undefined ? undefined : (shellWords(user.rest)[0] ?? '').split(':')[0];
  if (uid === undefined) problems.push('the final stage sets no USER: it would run as root');
  else if (uid === 'root' || uid === '0') problems.push(`line ${user?.line}: USER ${uid} is root`);
  else if (!/^\d+$/.test(uid)) problems.push(`line ${user?.line}: USER ${uid} is not numeric, so Kubernetes' runAsNonRoot cannot verify it`);

  const entrypoint = lastOf(final, 'ENTRYPOINT');
  const cmd = lastOf(final, 'CMD');
  if (entrypoint?.exec === undefined) problems.push('ENTRYPOINT missing or in shell form (signals would go to /bin/sh, not Node)');
  else if (!/(^|\/)node$/.test(entrypoint.exec[0] ?? '') || !/(^|\/)bin\/outrider$/.test(entrypoint.exec[1] ?? '')) {
    problems.push(`ENTRYPOINT should run node on bin/outrider, not ${JSON.stringify(entrypoint.exec)}`);
  }
  if (cmd !== undefined && cmd.exec === undefined) problems.push('CMD in shell form');
  const argv = [...(entrypoint?.exec ?? []), ...(cmd?.exec ?? [])];
  const config = argv.indexOf('--config');
  if (config < 0 || argv[config + 1] !== POLICY_PATH) problems.push(`the default command does not read ${POLICY_PATH}: ${JSON.stringify(argv)}`);

  const exposed = new Set(final.instructions.filter((i) => i.keyword === 'EXPOSE').flatMap((i) => shellWords(i.rest).map((p) => Number(p.split('/')[0]))));
  for (const [name, port] of Object.entries(PORTS)) if (!exposed.has(port)) problems.push(`EXPOSE lacks ${port} (${name})`);

  const labels = new Map(final.instructions.filter((i) => i.keyword === 'LABEL').flatMap((i) => [...keyValues(i)]));
  for (const label of REQUIRED_LABELS) if (!labels.get(label)) problems.push(`LABEL ${label} missing or empty`);

  // What the final image holds: production node_modules, dist/, bin/, schema/, package.json.
  const allowed = new Map([
    ['node_modules', 'stage'],
    ['dist', 'stage'],
    ['schema', 'any'],
    ['bin', 'any'],
    ['package.json', 'any'],
  ]);
  const shipped = new Set<string>();
  for (const copy of copies(final)) {
    for (const source of copy.sources) {
      const base = source.replace(/^\/?(src\/|app\/)?/, '').replace(/\/$/, '');
      const what = base.split('/').at(-1) ?? base;
      const rule = allowed.get(what);
      if (rule === undefined) {
        problems.push(`line ${copy.line}: the final image must not hold ${source}`);
        continue;
      }
      shipped.add(what);
      if (copy.from === undefined) {
        if (rule === 'stage') problems.push(`line ${copy.line}: ${what} must come from a build stage, not the build context`);
        continue;
      }
      const from = stageNamed(df, copy.from);
      if (from === undefined) {
        problems.push(`line ${copy.line}: COPY --from=${copy.from} names no earlier stage`);
      } else if (what === 'node_modules' && !runsCommand(from, /\bnpm ci\b.*--omit=dev/)) {
        problems.push(`line ${copy.line}: node_modules come from stage ${copy.from}, which does not run npm ci --omit=dev`);
      } else if (what === 'dist' && !runsCommand(from, /\bnpm run build\b/)) {
        problems.push(`line ${copy.line}: dist comes from stage ${copy.from}, which does not run npm run build`);
      }
    }
  }
  for (const what of allowed.keys()) if (!shipped.has(what)) problems.push(`the final image lacks ${what}`);
  const builder = df.stages.find((s) => runsCommand(s, /\bnpm run build\b/));
  if (builder !== undefined && !runsCommand(builder, /\bnpm ci\b(?!.*--omit=dev)/)) {
    problems.push(`stage ${builder.name ?? builder.index} builds without installing dev dependencies (npm ci)`);
  }
  return problems;
}

// ---------------------------------------------------------------------------------------------
// .dockerignore, as Docker reads it: patterns in order, the last match wins, `!` re-includes,
// and a pattern that matches a folder matches everything in it.

export function dockerignore(text: string): (path: string) => boolean {
  const rules = text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'))
    .map((l) => {
      const include = l.startsWith('!');
      const pattern = (include ? l.slice(1) : l).trim().replace(/^\/+/, '').replace(/\/+$/, '');
      const source = pattern
        .split('/')
        .map((part) => (part === '**' ? '.*' : part.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*').replace(/\?/g, '[^/]')))
        .join('/');
      return { include, re: new RegExp(`^${source.replace(/\.\*\//g, '(?:.*/)?')}$`) };
    });
  return (path: string) => {
    const parts = path.replace(/^\/+/, '').replace(/\/+$/, '').split('/');
    const prefixes = parts.map((_, n) => parts.slice(0, n + 1).join('/'));
    let excluded = false;
    for (const rule of rules) if (prefixes.some((p) => rule.re.test(p))) excluded = !rule.include;
    return excluded;
  };
}
