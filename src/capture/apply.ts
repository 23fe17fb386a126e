/**
 * Runs iptables for `outrider capture`: one `iptables-save -t nat` to see which jumps exist,
 * one `iptables-restore --noflush` with the whole input (atomic: all of it or none). The
 * binaries come from PATH (the init image installs Debian's iptables, nft backend); their
 * failures become CaptureError with a message that says what to do.
 */
import { spawnSync } from 'node:child_process';
import type { CaptureOptions } from './options.js';
import { jumpsIn, restoreInput } from './rules.js';

export class CaptureError extends Error {
  override readonly name = 'CaptureError';
}

/** What was applied: the restore input, for the init container's log. */
export function applyCapture(options: CaptureOptions): string {
  const saved = run('iptables-save', ['-t', 'nat']);
  const input = restoreInput(options, jumpsIn(saved));
  // --wait: a legacy backend shares one lock with anything else touching iptables in the pod.
  run('iptables-restore', ['--noflush', '--wait'], input);
  return input;
}

function run(command: string, args: readonly string[], input?: string): string {
  const result = spawnSync(command, args, { input, encoding: 'utf8', timeout: 30_000 });
  if (result.error !== undefined) {
    const code = (result.error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new CaptureError(`${command} not found on PATH: install iptables (Debian: apt-get install iptables), or run the image's init target`);
    throw new CaptureError(`${command} could not run: ${result.error.message}`);
  }
  if (result.status === 0) return result.stdout;
  const output = `${result.stderr}${result.stdout}`.trim();
  if (/permission denied|you must be root|operation not permitted/i.test(output)) {
    const first = output.split('\n', 1)[0] as string;
    throw new CaptureError(`${command} was refused (${first}): run capture as root with CAP_NET_ADMIN (and CAP_NET_RAW), as the pod's init container does`);
  }
  // No error and no status: a signal ended it (an OOM kill, say).
  const how = result.status === null ? `signal ${result.signal}` : `exit ${result.status}`;
  throw new CaptureError(`${command} ${args.join(' ')} failed (${how}): ${output.slice(0, 2000)}`);
}
