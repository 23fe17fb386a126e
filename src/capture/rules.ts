/**
 * The capture rules as `iptables-restore --noflush` input (nat table), the shape Istio's
 * istio-iptables and Linkerd's proxy-init give theirs: Outrider's own chains, reached by one
 * jump each from PREROUTING (inbound) and OUTPUT (outbound).
 *
 * Idempotent: with --noflush, declaring a chain (`:OUTRIDER_OUTPUT - [0:0]`) empties it (both
 * the nft and the legacy iptables-restore do), so a second run rebuilds the chains rather than
 * appending to them; the two jumps, which live in the built-in chains, are written only when
 * iptables-save does not show them already. The whole input is one transaction: a failure
 * leaves the rules as they were.
 *
 * Rules are written exactly as iptables-save prints them (`-p tcp -m tcp --dport`), so a dry
 * run can be compared line for line with what a real run leaves.
 */
import type { CaptureOptions, PortSelection } from './options.js';

export const CHAINS = {
  inbound: 'OUTRIDER_INBOUND',
  inRedirect: 'OUTRIDER_IN_REDIRECT',
  output: 'OUTRIDER_OUTPUT',
  redirect: 'OUTRIDER_REDIRECT',
} as const;

/** The jumps from the built-in chains, as iptables-save prints them. TCP only: UDP (DNS) is never touched. */
export const JUMPS = [`-A PREROUTING -p tcp -j ${CHAINS.inbound}`, `-A OUTPUT -p tcp -j ${CHAINS.output}`] as const;

/**
 * `present`: the jump lines iptables-save already shows (jumpsIn); every jump is written when
 * it is undefined (a dry run, which reads nothing).
 */
export function restoreInput(options: CaptureOptions, present?: ReadonlySet<string>): string {
  const lines = [
    `# outrider capture: proxy uid ${options.proxyUid}; outbound ${describe(options.outboundPorts)} -> ${options.outboundListener}; inbound ${describe(options.inboundPorts)} -> ${options.inboundListener}`,
    '*nat',
    ...Object.values(CHAINS).map((chain) => `:${chain} - [0:0]`),
    ...inboundRules(options),
    ...outboundRules(options),
    ...JUMPS.filter((jump) => present?.has(jump) !== true),
    'COMMIT',
  ];
  return `${lines.join('\n')}\n`;
}

/** Which of the jumps an `iptables-save -t nat` output already has. */
export function jumpsIn(saved: string): Set<string> {
  const have = new Set(saved.split('\n').map((line) => line.trim()));
  return new Set(JUMPS.filter((jump) => have.has(jump)));
}

/**
 * PREROUTING sees connections from other hosts only (a pod's own connections to itself are
 * NATed once, in OUTPUT), so this is traffic addressed to the pod. REDIRECT there sends it to
 * the address it arrived on, hence an inbound listener bound to 0.0.0.0.
 */
function inboundRules(options: CaptureOptions): string[] {
  const { inbound, inRedirect } = CHAINS;
  // The listeners' own ports are never redirected: traffic already aimed at them is there.
  const skip = unique([options.inboundListener, options.outboundListener, ...options.excludeInboundPorts]);
  return [
    ...skip.map((port) => `-A ${inbound} -p tcp -m tcp --dport ${port} -j RETURN`),
    ...toChain(inbound, options.inboundPorts, inRedirect),
    `-A ${inRedirect} -p tcp -j REDIRECT --to-ports ${options.inboundListener}`,
  ];
}

/**
 * OUTPUT sees every connection a process of the pod opens. In order:
 * - the proxy's own uid returns first: its upstream connections, passthrough ones included,
 *   must leave as they are, or each would be redirected back to the proxy (a loop);
 * - loopback returns: the app talking to itself (127.0.0.1, or its own pod IP, which the
 *   kernel routes over lo) is not the mesh's business, and the proxy's own listeners live there;
 * - excluded networks (the cloud metadata addresses always) and ports return;
 * - what is left, to the listed ports, goes to the outbound listener (REDIRECT in OUTPUT
 *   rewrites the destination to 127.0.0.1, where the outbound listener is bound).
 */
function outboundRules(options: CaptureOptions): string[] {
  const { output, redirect } = CHAINS;
  return [
    `-A ${output} -m owner --uid-owner ${options.proxyUid} -j RETURN`,
    `-A ${output} -o lo -j RETURN`,
    ...options.excludeOutboundCidrs.map((cidr) => `-A ${output} -d ${cidr} -j RETURN`),
    ...options.excludeOutboundPorts.map((port) => `-A ${output} -p tcp -m tcp --dport ${port} -j RETURN`),
    ...toChain(output, options.outboundPorts, redirect),
    `-A ${redirect} -p tcp -j REDIRECT --to-ports ${options.outboundListener}`,
  ];
}

function toChain(chain: string, ports: PortSelection, target: string): string[] {
  if (ports.kind === 'all') return [`-A ${chain} -p tcp -j ${target}`];
  return ports.ports.map((port) => `-A ${chain} -p tcp -m tcp --dport ${port} -j ${target}`);
}

function describe(ports: PortSelection): string {
  if (ports.kind === 'all') return 'all TCP ports';
  return ports.ports.length === 0 ? 'no ports' : `ports ${ports.ports.join(',')}`;
}

function unique<T>(items: readonly T[]): T[] {
  return [...new Set(items)];
}
