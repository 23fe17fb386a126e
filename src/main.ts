/**
 * The CLI.
 *   outrider --config FILE      run the sidecar (FILE defaults to $OUTRIDER_CONFIG or
 *                               /etc/outrider/outrider.yaml)
 *   outrider validate FILE      check a policy: a summary and exit 0, or
 *                               `file:line:column: message` per error and exit 1
 *   outrider capture FLAGS      install the pod's iptables capture rules (capture/cli.ts)
 *   outrider inject [FILE|-]    Kubernetes YAML with the sidecar added (src/kubernetes/inject)
 *   outrider injector ...       the mutating admission webhook (src/kubernetes/injector)
 *   outrider --version | --help
 * Exit codes: 0 ok (also after a SIGTERM drain), 1 invalid policy or failed start, 2 usage.
 */
import { readFileSync } from 'node:fs';
import { loadPolicyFile } from './config/load.js';
import { formatIssue, type Policy } from './config/types.js';
import type { Sidecar } from './sidecar.js';

const DEFAULT_CONFIG = '/etc/outrider/outrider.yaml';

const USAGE = `Usage:
  outrider --config FILE     run the sidecar with the policy in FILE
  outrider validate FILE     check a policy file and exit (0 valid, 1 invalid)
  outrider capture FLAGS     redirect the pod's TCP traffic to Outrider (iptables; capture --help)
  outrider inject [FILE|-] [--policy NAME] [--capture] [--image REF] [--capture-image REF]
                             print Kubernetes YAML with the sidecar added to every pod template
  outrider injector --tls-cert FILE --tls-key FILE [--address HOST:PORT] [INJECT FLAGS]
                             serve the mutating admission webhook that injects the sidecar
                             (INJECT FLAGS: --policy, --capture, --image, --capture-image)
  outrider --version         print the version
Default FILE: $OUTRIDER_CONFIG, else ${DEFAULT_CONFIG}.`;

export async function main(argv: readonly string[]): Promise<void> {
  const [first, ...rest] = argv;
  if (first === 'validate') return validate(rest);
  // Loaded on demand, like the runtime: the init container needs nothing else.
  if (first === 'capture') return (await import('./capture/cli.js')).capture(rest);
  // So are inject and injector (src/kubernetes).
  if (first === 'inject') return (await import('./kubernetes/inject/cli.js')).inject(rest);
  if (first === 'injector') return (await import('./kubernetes/injector/cli.js')).injector(rest);
  if (first === '--help' || first === '-h' || first === 'help') return print(USAGE);
  if (first === '--version' || first === '-v') return print(version());
  const configFile = parseRunArgs(argv);
  if (configFile === undefined) return usageError();
  await run(configFile);
}

function parseRunArgs(argv: readonly string[]): string | undefined {
  let configFile = process.env.OUTRIDER_CONFIG ?? DEFAULT_CONFIG;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === '--config' || arg === '-c') {
      const value = argv[++i];
      if (value === undefined) return undefined;
      configFile = value;
    } else if (arg.startsWith('--config=')) {
      configFile = arg.slice('--config='.length);
    } else {
      return undefined;
    }
  }
  return configFile;
}

async function validate(args: readonly string[]): Promise<void> {
  if (args.length !== 1) return usageError();
  const file = args[0] as string;
  const result = await loadPolicyFile(file);
  if (!result.ok) {
    for (const issue of result.issues) process.stderr.write(`${formatIssue(issue)}\n`);
    process.stderr.write(`${result.issues.length} error${result.issues.length === 1 ? '' : 's'} in ${file}\n`);
    process.exitCode = 1;
    return;
  }
  process.stdout.write(`${file}: valid. ${summary(result.policy)}\n`);
}

function summary(policy: Policy): string {
  const count = (n: number, what: string): string => `${n} ${what}${n === 1 ? '' : 's'}`;
  const patterns = new Set<string>();
  for (const route of policy.routes) {
    for (const key of ['retry', 'hedge', 'circuitBreaker', 'bulkhead', 'shadow', 'scatterGather'] as const) {
      if (route[key] !== undefined) patterns.add(key);
    }
  }
  const uses = patterns.size > 0 ? `; patterns: ${[...patterns].join(', ')}` : '';
  return `${count(policy.listeners.length, 'listener')}, ${count(policy.upstreams.size, 'upstream')}, ${count(policy.routes.length, 'route')}${uses}.`;
}

async function run(configFile: string): Promise<void> {
  // Loaded here, not at the top: `validate` and `--version` need none of the runtime.
  const { PolicyLoadError, Sidecar } = await import('./sidecar.js');
  let sidecar: Sidecar;
  try {
    sidecar = await Sidecar.start({ configFile });
  } catch (err) {
    if (err instanceof PolicyLoadError) process.stderr.write(`${err.message}\n`);
    else process.stderr.write(`outrider: failed to start: ${(err as Error).message}\n`);
    process.exitCode = 1;
    return;
  }
  const { releaseStartupMemory } = await import('./sidecar/release-startup-memory.js');
  const released = releaseStartupMemory();
  if (released) sidecar.log.info(released, 'released start-up memory');
  const stop = (signal: string): void => {
    sidecar.log.info({ signal }, 'shutting down');
    sidecar.shutdown().then(
      () => process.exit(0),
      (err: unknown) => {
        sidecar.log.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
  process.on('SIGHUP', () => void sidecar.reload());
}

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
  return `outrider ${pkg.version}`;
}

function print(text: string): void {
  process.stdout.write(`${text}\n`);
}

function usageError(): void {
  process.stderr.write(`${USAGE}\n`);
  process.exitCode = 2;
}
