/**
 * `outrider injector --address HOST:PORT --tls-cert FILE --tls-key FILE [--policy NAME]
 * [--capture] [--image REF] [--capture-image REF]`: the mutating admission webhook server (server.ts). SIGTERM and
 * SIGINT close it and exit 0.
 */
import { parseArgs, stringFlag } from '../args.js';
import { createLogger } from '../../observability/logger.js';
import { isDnsSubdomain } from '../inject/annotations.js';
import { DEFAULT_IMAGE, DEFAULT_POLICY_CONFIGMAP } from '../inject/defaults.js';
import { InjectorServer } from './server.js';

export const INJECTOR_USAGE = `Usage: outrider injector --tls-cert FILE --tls-key FILE [--address HOST:PORT] [--policy NAME] [--capture] [--image REF] [--capture-image REF]
  Serves the mutating admission webhook over HTTPS (default address 0.0.0.0:8443): POST /inject,
  POST /inject/annotated (AdmissionReview admission.k8s.io/v1), GET /healthz. --policy, --capture,
  --image and --capture-image are what injected pods get, as with outrider inject.`;

export async function injector(args: readonly string[]): Promise<void> {
  const parsed = parseArgs(args, { '--address': 'string', '--tls-cert': 'string', '--tls-key': 'string', '--policy': 'string', '--capture': 'boolean', '--image': 'string', '--capture-image': 'string' });
  if (typeof parsed === 'string') return usageError(parsed);
  if (parsed.positionals.length > 0) return usageError(`unexpected argument ${parsed.positionals[0]}`);
  const certFile = stringFlag(parsed, '--tls-cert');
  const keyFile = stringFlag(parsed, '--tls-key');
  if (certFile === undefined || keyFile === undefined) return usageError('--tls-cert and --tls-key are required (the API server calls webhooks over HTTPS only)');
  const address = /^(.*):([0-9]{1,5})$/.exec(stringFlag(parsed, '--address') ?? '0.0.0.0:8443');
  const port = Number(address?.[2]);
  if (!address || port > 65535) return usageError('--address: HOST:PORT, such as 0.0.0.0:8443');
  const policy = stringFlag(parsed, '--policy') ?? DEFAULT_POLICY_CONFIGMAP;
  if (!isDnsSubdomain(policy)) return usageError(`--policy: "${policy}" is not a ConfigMap name`);

  const log = createLogger('outrider-injector', 2);
  let server: InjectorServer;
  try {
    server = await InjectorServer.start({
      host: (address[1] as string).replace(/^\[(.*)\]$/, '$1'),
      port,
      certFile,
      keyFile,
      inject: { policy, capture: parsed.flags.has('--capture'), image: stringFlag(parsed, '--image') ?? DEFAULT_IMAGE, captureImage: stringFlag(parsed, '--capture-image') },
      log,
    });
  } catch (err) {
    process.stderr.write(`outrider injector: failed to start: ${(err as Error).message}\n`);
    process.exitCode = 1;
    return;
  }
  const stop = (signal: string): void => {
    log.info({ signal }, 'injector: shutting down');
    server.close().then(() => process.exit(0), () => process.exit(1));
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
}

function usageError(message: string): void {
  process.stderr.write(`outrider injector: ${message}\n${INJECTOR_USAGE}\n`);
  process.exitCode = 2;
}
