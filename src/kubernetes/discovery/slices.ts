/**
 * From a Service's EndpointSlices to Outrider endpoints: one per ready pod address, on the pod
 * port behind the Service port asked for. Pure (no API calls), so the rules are tested alone:
 *
 * - Ready only: `conditions.ready` absent or true (the API says absent means ready); a pod
 *   that is starting, failing its readiness probe or terminating is not called.
 * - The port: an EndpointSlice lists the pods' ports under the Service ports' *names* (the
 *   Service port's own number is not in it), so a Service port given by number is first mapped
 *   to its name through the Service (servicePortName).
 * - One address family: a dual-stack Service has an IPv4 and an IPv6 slice for the same pods;
 *   IPv4 is used when it has any endpoint, else IPv6 (as resolve.ts keeps one family). FQDN
 *   slices (deprecated by Kubernetes) are skipped.
 * - The first address of each endpoint (the EndpointSlice controller writes exactly one, and
 *   the API says the others are the same pod), as kube-proxy does; duplicates across slices
 *   (a pod moving between slices) count once.
 */
import { isIP } from 'node:net';
import type { EndpointUrl } from '../../config/types.js';

/** The fields of a discovery.k8s.io/v1 EndpointSlice read here (the API's own names). */
export interface EndpointSliceLike {
  readonly metadata?: { readonly name?: string; readonly resourceVersion?: string } | undefined;
  readonly addressType?: string | undefined;
  readonly endpoints?: readonly SliceEndpoint[] | null | undefined;
  readonly ports?: readonly SlicePort[] | null | undefined;
}

interface SliceEndpoint {
  readonly addresses?: readonly string[] | null | undefined;
  readonly conditions?: { readonly ready?: boolean | null | undefined } | null | undefined;
}

interface SlicePort {
  readonly name?: string | null | undefined;
  readonly port?: number | null | undefined;
  readonly protocol?: string | null | undefined;
}

/** The fields of a v1 Service's ports read here. */
export interface ServicePortLike {
  readonly name?: string | null | undefined;
  readonly port?: number | null | undefined;
  readonly protocol?: string | null | undefined;
}

/** How the endpoints are called: the scheme, and for https the name TLS expects. */
export interface EndpointForm {
  readonly scheme: 'http' | 'https';
  readonly tlsName: string | undefined;
}

/**
 * The name under which EndpointSlices list the Service port `port`: a name is itself; a
 * number is looked up among the Service's TCP ports (a single unnamed port's name is "").
 * Undefined when the Service has no such port.
 */
export function servicePortName(port: string | number, servicePorts: readonly ServicePortLike[] | null | undefined): string | undefined {
  if (typeof port === 'string') return port;
  const found = (servicePorts ?? []).find((p) => p.port === port && isTcp(p.protocol));
  return found === undefined ? undefined : (found.name ?? '');
}

/** The ready endpoints of `slices` on the port named `portName`, sorted, without duplicates. */
export function endpointsFromSlices(slices: Iterable<EndpointSliceLike>, portName: string, form: EndpointForm): EndpointUrl[] {
  const byFamily = new Map<string, Map<string, EndpointUrl>>([
    ['IPv4', new Map()],
    ['IPv6', new Map()],
  ]);
  for (const slice of slices) {
    const found = byFamily.get(slice.addressType ?? '');
    const port = (slice.ports ?? []).find((p) => (p.name ?? '') === portName && isTcp(p.protocol))?.port;
    if (found === undefined || typeof port !== 'number') continue;
    for (const endpoint of slice.endpoints ?? []) {
      const address = endpoint.addresses?.[0];
      if (endpoint.conditions?.ready === false || address === undefined || isIP(address) === 0) continue;
      const url = endpointUrl(address, port, form);
      found.set(url.origin, url);
    }
  }
  const chosen = (byFamily.get('IPv4') as Map<string, EndpointUrl>).size > 0 ? byFamily.get('IPv4') : byFamily.get('IPv6');
  return [...(chosen as Map<string, EndpointUrl>).values()].sort((a, b) => (a.origin < b.origin ? -1 : a.origin > b.origin ? 1 : 0));
}

/** The port names the slices offer, for a status message when none matches. */
export function slicePortNames(slices: Iterable<EndpointSliceLike>): string[] {
  const names = new Set<string>();
  for (const slice of slices) for (const p of slice.ports ?? []) names.add(p.name ?? '');
  return [...names].sort();
}

function endpointUrl(address: string, port: number, form: EndpointForm): EndpointUrl {
  const host = isIP(address) === 6 ? `[${address}]` : address;
  return { origin: `${form.scheme}://${host}:${port}`, host: address, port, ...(form.tlsName === undefined ? {} : { tlsName: form.tlsName }) };
}

/** Ports without a protocol are TCP (the API's default); UDP and SCTP ports are not HTTP. */
function isTcp(protocol: string | null | undefined): boolean {
  return protocol === undefined || protocol === null || protocol === 'TCP';
}
