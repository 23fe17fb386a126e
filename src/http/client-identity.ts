/**
 * Who the client is, from the certificate a TLS listener with `clientCa` verified: its SPIFFE
 * URI SAN (Istio and Linkerd identities), else its subject CN. Read once per connection: a
 * keep-alive connection carries many requests from the same client.
 */
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';

const identities = new WeakMap<Socket, string | undefined>();

export function clientIdentityOf(socket: Socket): string | undefined {
  const tls = socket as TLSSocket;
  if (tls.encrypted !== true || tls.authorized !== true) return undefined;
  if (identities.has(socket)) return identities.get(socket);
  const certificate = tls.getPeerCertificate();
  const uri = certificate.subjectaltname
    ?.split(',')
    .map((name) => name.trim())
    .find((name) => name.startsWith('URI:spiffe://'));
  const identity = uri !== undefined ? uri.slice('URI:'.length) : (certificate.subject?.CN as string | undefined) || undefined;
  identities.set(socket, identity);
  return identity;
}
