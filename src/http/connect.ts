/**
 * CONNECT tunnels (traffic.md, Listeners `connect`): `CONNECT host:port` to a target the
 * listener's `connect.allow` admits is answered `200` and joined to a TCP connection to the
 * target, made within the upstream connect timeout default (1 s); anything else is 403
 * `connect-refused`. This is what HTTPS_PROXY clients, curl -x and undici's EnvHttpProxyAgent
 * (Node's fetch with proxy variables) send. The tunnel carries opaque bytes: no route, no pattern.
 */
import type { IncomingMessage } from 'node:http';
import net from 'node:net';
import { DEFAULTS } from '../config/defaults.js';
import { OutriderError } from '../errors.js';
import { parseDurationMs } from '../util/units.js';
import { writeRefusal } from './raw-socket.js';
import { Tunnel, type TunnelBytes } from './tunnel.js';

const CONNECT_TIMEOUT_MS = parseDurationMs(DEFAULTS.upstream.connectTimeout);

export interface ConnectHooks {
  onRefused(): void;
  /** A tunnel opened; `onClosed` is called once when it ends. */
  onTunnel(tunnel: Tunnel): (bytes: TunnelBytes) => void;
}

/** `host:port` of a CONNECT request target, lower-cased; undefined when it is not one. */
export function connectTarget(url: string | undefined): { host: string; port: number } | undefined {
  const match = /^(\[[0-9a-f:.]+\]|[a-z0-9_.-]+):([0-9]{1,5})$/i.exec(url ?? '');
  if (match === null) return undefined;
  const port = Number(match[2]);
  if (port < 1 || port > 65_535) return undefined;
  return { host: (match[1] as string).toLowerCase(), port };
}

/** Does `allow` (entries `host:port`, `*` for any host or port) admit this target? */
export function connectAllowed(allow: readonly string[], host: string, port: number): boolean {
  for (const entry of allow) {
    const colon = entry.lastIndexOf(':');
    const allowedHost = entry.slice(0, colon);
    const allowedPort = entry.slice(colon + 1);
    if ((allowedHost === '*' || allowedHost === host) && (allowedPort === '*' || Number(allowedPort) === port)) return true;
  }
  return false;
}

export function handleConnect(req: IncomingMessage, client: net.Socket, head: Buffer, listener: string, allow: readonly string[], hooks: ConnectHooks): void {
  const target = connectTarget(req.url);
  if (target === undefined || !connectAllowed(allow, target.host, target.port)) {
    hooks.onRefused();
    writeRefusal(client, new OutriderError('connect-refused', `CONNECT ${req.url ?? ''} is not allowed on listener ${listener}`, { listener }));
    return;
  }
  const host = target.host.startsWith('[') ? target.host.slice(1, -1) : target.host;
  const upstream = net.connect({ host, port: target.port });
  upstream.setTimeout(CONNECT_TIMEOUT_MS);
  const failed = (reason: string): void => {
    upstream.destroy();
    writeRefusal(client, new OutriderError('upstream-unreachable', `CONNECT ${req.url ?? ''}: ${reason}`, { listener }));
  };
  upstream.once('timeout', () => failed(`no connection within ${CONNECT_TIMEOUT_MS} ms`));
  upstream.once('error', (err) => failed(err.message));
  client.once('close', () => upstream.destroy());
  upstream.once('connect', () => {
    upstream.setTimeout(0);
    upstream.removeAllListeners('timeout');
    upstream.removeAllListeners('error');
    if (client.destroyed) {
      upstream.destroy();
      return;
    }
    client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
    const tunnel = new Tunnel(client, upstream);
    tunnel.open(head, hooks.onTunnel(tunnel));
  });
}
