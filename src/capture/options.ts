/**
 * The flags of `outrider capture` (traffic.md, Capture), read into CaptureOptions or refused
 * with a message saying which flag and why. Nothing here touches the system: rules.ts turns the
 * options into iptables-restore input, apply.ts runs it.
 */

/** Which destination ports a direction captures: every TCP port, or these. */
export type PortSelection = { readonly kind: 'all' } | { readonly kind: 'list'; readonly ports: readonly number[] };

export interface CaptureOptions {
  readonly proxyUid: number;
  readonly outboundListener: number;
  readonly inboundListener: number;
  readonly outboundPorts: PortSelection;
  readonly inboundPorts: PortSelection;
  readonly excludeOutboundPorts: readonly number[];
  readonly excludeInboundPorts: readonly number[];
  /** IPv4 networks in `a.b.c.d/n` form, the cloud metadata addresses first. */
  readonly excludeOutboundCidrs: readonly string[];
  readonly dryRun: boolean;
}

/**
 * Instance metadata (AWS, GCP, Azure: 169.254.169.254) and the ECS/EKS task credentials
 * endpoint (169.254.170.2): the pod's cloud credentials must never depend on the sidecar, nor
 * be readable through a route or a passthrough log line, so they are always left alone.
 */
export const METADATA_CIDRS = ['169.254.169.254/32', '169.254.170.2/32'] as const;

export class CaptureUsageError extends Error {
  override readonly name = 'CaptureUsageError';
}

const VALUE_FLAGS = [
  'proxy-uid',
  'outbound-listener',
  'inbound-listener',
  'outbound-ports',
  'inbound-ports',
  'exclude-outbound-ports',
  'exclude-inbound-ports',
  'exclude-outbound-cidrs',
] as const;
type ValueFlag = (typeof VALUE_FLAGS)[number];

const REQUIRED: readonly ValueFlag[] = ['proxy-uid', 'outbound-listener', 'inbound-listener'];

/** `--flag value` and `--flag=value`; each flag at most once; throws CaptureUsageError. */
export function parseCaptureArgs(argv: readonly string[]): CaptureOptions {
  const values = new Map<ValueFlag, string>();
  let dryRun = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === '--dry-run') {
      dryRun = true;
      continue;
    }
    const eq = arg.indexOf('=');
    const name = (eq === -1 ? arg : arg.slice(0, eq)).replace(/^--/, '');
    if (!arg.startsWith('--') || !(VALUE_FLAGS as readonly string[]).includes(name)) throw new CaptureUsageError(`unknown argument ${arg}`);
    const flag = name as ValueFlag;
    const value = eq === -1 ? argv[++i] : arg.slice(eq + 1);
    if (value === undefined) throw new CaptureUsageError(`--${flag} needs a value`);
    if (values.has(flag)) throw new CaptureUsageError(`--${flag} is given twice`);
    values.set(flag, value);
  }
  const missing = REQUIRED.filter((flag) => !values.has(flag));
  if (missing.length > 0) throw new CaptureUsageError(`missing ${missing.map((f) => `--${f}`).join(', ')}`);
  const get = (flag: ValueFlag): string | undefined => values.get(flag);
  const proxyUid = integer('proxy-uid', get('proxy-uid') as string, 0, 4_294_967_294);
  // Every process of that uid bypasses capture: as root, so would every root app.
  if (proxyUid === 0) throw new CaptureUsageError('--proxy-uid 0: the proxy must not run as root, or every root process would bypass capture');
  return {
    proxyUid,
    outboundListener: port('outbound-listener', get('outbound-listener') as string),
    inboundListener: port('inbound-listener', get('inbound-listener') as string),
    outboundPorts: selection('outbound-ports', get('outbound-ports')),
    inboundPorts: selection('inbound-ports', get('inbound-ports')),
    excludeOutboundPorts: portList('exclude-outbound-ports', get('exclude-outbound-ports') ?? ''),
    excludeInboundPorts: portList('exclude-inbound-ports', get('exclude-inbound-ports') ?? ''),
    excludeOutboundCidrs: unique([...METADATA_CIDRS, ...cidrList(get('exclude-outbound-cidrs') ?? '')]),
    dryRun,
  };
}

/** Omitted: `all`, as Istio and Linkerd capture by default. An empty value captures nothing. */
function selection(flag: ValueFlag, text: string | undefined): PortSelection {
  if (text === undefined || text.trim().toLowerCase() === 'all') return { kind: 'all' };
  return { kind: 'list', ports: portList(flag, text) };
}

function portList(flag: ValueFlag, text: string): number[] {
  const items = text.split(',').map((s) => s.trim()).filter((s) => s !== '');
  return unique(items.map((item) => port(flag, item)));
}

function port(flag: ValueFlag, text: string): number {
  return integer(flag, text, 1, 65535);
}

function integer(flag: ValueFlag, text: string, min: number, max: number): number {
  const n = /^\d+$/.test(text.trim()) ? Number(text.trim()) : Number.NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max) throw new CaptureUsageError(`--${flag}: ${JSON.stringify(text)} is not a number from ${min} to ${max}`);
  return n;
}

/** IPv4 only: the rules are iptables' (IPv4); an IPv6 network here would silently do nothing. */
function cidrList(text: string): string[] {
  return text
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '')
    .map((item) => {
      const [address = '', bits = '32', extra] = item.split('/');
      const octets = address.split('.');
      const validAddress = octets.length === 4 && octets.every((o) => /^\d{1,3}$/.test(o) && Number(o) <= 255);
      const validBits = /^\d{1,2}$/.test(bits) && Number(bits) <= 32;
      if (!validAddress || !validBits || extra !== undefined) {
        throw new CaptureUsageError(`--exclude-outbound-cidrs: ${JSON.stringify(item)} is not an IPv4 address or network (a.b.c.d or a.b.c.d/n)`);
      }
      return canonicalCidr(octets.map(Number), Number(bits));
    });
}

/** Host bits cleared, as iptables-save prints it (10.1.2.3/8 → 10.0.0.0/8), so dry runs and saves agree. */
function canonicalCidr(octets: readonly number[], bits: number): string {
  const value = octets.reduce((n, o) => n * 256 + o, 0);
  const size = 2 ** (32 - bits);
  const network = value - (value % size);
  const parts = [24, 16, 8, 0].map((shift) => Math.floor(network / 2 ** shift) % 256);
  return `${parts.join('.')}/${bits}`;
}

function unique<T>(items: readonly T[]): T[] {
  return [...new Set(items)];
}
