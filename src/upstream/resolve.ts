/**
 * Endpoints given as one DNS name are re-resolved periodically (as Envoy's STRICT_DNS
 * clusters are), so a headless Service's pods come and go without a reload. IP literals and
 * lists of several endpoints are taken as written.
 */
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import type { EndpointUrl } from '../config/types.js';

export const DNS_REFRESH_MS = 30_000;

export function needsResolution(endpoints: readonly EndpointUrl[]): boolean {
  return endpoints.length === 1 && isIP((endpoints[0] as EndpointUrl).host) === 0;
}

/** The addresses of a name, one family only (the first the resolver prefers), as endpoints. */
export async function resolveEndpoint(endpoint: EndpointUrl): Promise<EndpointUrl[]> {
  const addresses = await lookup(endpoint.host, { all: true });
  const family = addresses[0]?.family;
  const seen = new Set<string>();
  const out: EndpointUrl[] = [];
  for (const { address, family: f } of addresses) {
    if (f !== family || seen.has(address)) continue;
    seen.add(address);
    const host = f === 6 ? `[${address}]` : address;
    // The scheme stays, and TLS still expects the name that was resolved, not the address.
    const scheme = endpoint.origin.startsWith('https:') ? 'https' : 'http';
    out.push({ origin: `${scheme}://${host}:${endpoint.port}`, host: address, port: endpoint.port, tlsName: endpoint.host });
  }
  return out;
}
