/**
 * The answer to an upgrade request (WebSocket and any other `Upgrade` token), written to the
 * raw connection node:http handed over. The request went through its route's pipeline like
 * any other (routing, timeout for the handshake, bulkhead, breaker; retry, hedge and shadow
 * step aside): an upstream `101` is passed on and the two connections are joined into a
 * tunnel; anything else (the upstream's refusal, the sidecar's own error) is written whole and
 * the connection closed.
 */
import type { Socket } from 'node:net';
import { collectBody } from './collect-body.js';
import type { ProxyResponse } from '../pipeline/layer.js';
import { responseHead, writeAndClose } from './raw-socket.js';
import { Tunnel, type TunnelBytes } from './tunnel.js';

/** A refusal's body is read whole before it is written; an upgrade refusal is small. */
const REFUSAL_BODY_LIMIT_BYTES = 64 * 1024;

export function answerUpgrade(client: Socket, head: Buffer, response: ProxyResponse, onTunnel: (tunnel: Tunnel) => (bytes: TunnelBytes) => void): void {
  const upstream = response.tunnel;
  if (client.destroyed) {
    upstream?.destroy();
    response.body.destroy();
    return;
  }
  if (upstream !== undefined && response.status === 101) {
    client.write(responseHead(101, response.headers));
    const tunnel = new Tunnel(client, upstream);
    tunnel.open(head, onTunnel(tunnel));
    return;
  }
  upstream?.destroy();
  collectBody(response.body, REFUSAL_BODY_LIMIT_BYTES).then(
    (body) => {
      const bytes = body ?? Buffer.alloc(0);
      const headers = withoutFraming(response.headers);
      headers.push('content-length', String(bytes.length));
      writeAndClose(client, response.status, headers, bytes);
    },
    () => client.destroy(),
  );
}

/** The answer is re-framed with its own length. */
function withoutFraming(headers: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < headers.length; i += 2) {
    const name = (headers[i] as string).toLowerCase();
    if (name === 'content-length' || name === 'transfer-encoding' || name === 'connection' || name === 'upgrade') continue;
    out.push(headers[i] as string, headers[i + 1] as string);
  }
  return out;
}
