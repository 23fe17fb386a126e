/**
 * `outrider capture`: the init container's one job (docs/kubernetes.md, "Capture").
 * Exit codes as the rest of the CLI (main.ts): 0 applied or printed, 1 iptables failed (no
 * binary, no permission, rejected input), 2 usage.
 */
import { applyCapture, CaptureError } from './apply.js';
import { CaptureUsageError, parseCaptureArgs } from './options.js';
import { restoreInput } from './rules.js';

export const CAPTURE_USAGE = `Usage: outrider capture --proxy-uid UID --outbound-listener PORT --inbound-listener PORT
         [--outbound-ports P,P|all] [--inbound-ports P,P|all]
         [--exclude-outbound-ports P,P] [--exclude-inbound-ports P,P]
         [--exclude-outbound-cidrs A.B.C.D/N,...] [--dry-run]
Redirects the pod's TCP traffic to Outrider with iptables (nat table, this network namespace).
Ports default to all; an empty list captures none. 169.254.169.254/32 and 169.254.170.2/32
are always excluded. --dry-run prints the iptables-restore input and changes nothing.`;

export function capture(argv: readonly string[]): void {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(`${CAPTURE_USAGE}\n`);
    return;
  }
  let options;
  try {
    options = parseCaptureArgs(argv);
  } catch (err) {
    if (!(err instanceof CaptureUsageError)) throw err;
    process.stderr.write(`outrider capture: ${err.message}\n${CAPTURE_USAGE}\n`);
    process.exitCode = 2;
    return;
  }
  if (options.dryRun) {
    process.stdout.write(restoreInput(options));
    return;
  }
  try {
    const applied = applyCapture(options);
    process.stdout.write(applied);
    process.stderr.write('outrider capture: rules applied (iptables-restore --noflush, nat table)\n');
  } catch (err) {
    if (!(err instanceof CaptureError)) throw err;
    process.stderr.write(`outrider capture: ${err.message}\n`);
    process.exitCode = 1;
  }
}
