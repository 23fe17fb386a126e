/**
 * `outrider inject [FILE|-] [--policy NAME] [--capture] [--image REF] [--capture-image REF]`:
 * Kubernetes YAML in (a file, or stdin for `-` or no FILE), the same YAML with the sidecar on stdout, a summary on
 * stderr. Any template that cannot be injected fails the whole run with nothing on stdout, so
 * `outrider inject app.yaml | kubectl apply -f -` never applies half a change.
 */
import { readFile } from 'node:fs/promises';
import { isDnsSubdomain } from './annotations.js';
import { parseArgs, stringFlag } from '../args.js';
import { DEFAULT_IMAGE, DEFAULT_POLICY_CONFIGMAP, captureImageFor } from './defaults.js';
import { injectManifests } from './manifests.js';

export const INJECT_USAGE = `Usage: outrider inject [FILE|-] [--policy NAME] [--capture] [--image REF] [--capture-image REF]
  Writes the Kubernetes YAML in FILE (stdin for - or none) to stdout with the Outrider sidecar
  added to every pod template. --policy: the ConfigMap with the policy (default ${DEFAULT_POLICY_CONFIGMAP});
  --capture: add the init container that captures the pod's traffic; --image: the Outrider image
  (default ${DEFAULT_IMAGE}); --capture-image: the capture image (default: the image's -init
  variant, ${captureImageFor(DEFAULT_IMAGE)}). Pod annotations outrider.io/* override per workload.`;

export async function inject(args: readonly string[]): Promise<void> {
  const parsed = parseArgs(args, { '--policy': 'string', '--capture': 'boolean', '--image': 'string', '--capture-image': 'string', '--filename': 'string' }, { '-f': '--filename' });
  if (typeof parsed === 'string') return usageError(parsed);
  const files = [...parsed.positionals, ...(parsed.flags.has('--filename') ? [stringFlag(parsed, '--filename') as string] : [])];
  if (files.length > 1) return usageError('one FILE at most');
  const policy = stringFlag(parsed, '--policy') ?? DEFAULT_POLICY_CONFIGMAP;
  if (!isDnsSubdomain(policy)) return usageError(`--policy: "${policy}" is not a ConfigMap name`);
  const file = files[0] ?? '-';

  let source: string;
  try {
    source = file === '-' ? await readStdin() : await readFile(file, 'utf8');
  } catch (err) {
    process.stderr.write(`outrider inject: cannot read ${file}: ${(err as Error).message}\n`);
    process.exitCode = 1;
    return;
  }
  const result = injectManifests(source, {
    policy,
    capture: parsed.flags.has('--capture'),
    image: stringFlag(parsed, '--image') ?? DEFAULT_IMAGE,
    captureImage: stringFlag(parsed, '--capture-image'),
    optIn: 'unless-disabled',
  });
  const name = file === '-' ? 'stdin' : file;
  if (result.errors.length > 0) {
    for (const error of result.errors) process.stderr.write(`${name}: ${error}\n`);
    process.stderr.write(`outrider inject: nothing written: ${result.errors.length} pod template(s) could not be injected\n`);
    process.exitCode = 1;
    return;
  }
  process.stdout.write(result.output);
  for (const { label, reason } of result.skipped) process.stderr.write(`${name}: ${label}: skipped (${reason})\n`);
  process.stderr.write(`outrider inject: ${result.injected.length} pod template(s) injected, ${result.skipped.length} skipped\n`);
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

function usageError(message: string): void {
  process.stderr.write(`outrider inject: ${message}\n${INJECT_USAGE}\n`);
  process.exitCode = 2;
}
