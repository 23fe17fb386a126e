/**
 * Stand-ins for a Service's pods: real HTTP servers on 127.0.0.2, 127.0.0.3, … (all of 127/8
 * is loopback on Linux), all on one port as the pods behind a Service are, each answering with
 * its own address (or a status the test sets) and counting requests and closed connections.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export interface Pod {
  readonly address: string;
  served: number;
  closedConnections: number;
  /** The status it answers with (200 by default). */
  status: number;
}

export interface Pods {
  readonly port: number;
  readonly pods: readonly Pod[];
  close(): Promise<void>;
}

async function listen(server: Server, port: number, address: string): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, address, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return (server.address() as AddressInfo).port;
}

function podServer(pod: Pod, sockets: Set<Socket>): Server {
  const server = createServer((_req, res) => {
    pod.served += 1;
    res.writeHead(pod.status, { 'content-type': 'text/plain', 'x-pod': pod.address });
    res.end(pod.address);
  });
  // Keep idle connections (node closes them after 5 s): only the sidecar may end one here.
  server.keepAliveTimeout = 60_000;
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => {
      sockets.delete(socket);
      pod.closedConnections += 1;
    });
  });
  return server;
}

/** `count` pods on 127.0.0.2… sharing one free port (a few tries if another process holds it on one address). */
export async function startPods(count: number): Promise<Pods> {
  for (let attempt = 0; attempt < 5; attempt++) {
    const sockets = new Set<Socket>();
    const servers: Server[] = [];
    const pods: Pod[] = [];
    const close = async (): Promise<void> => {
      for (const s of sockets) s.destroy();
      await Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
    };
    try {
      let port = 0;
      for (let i = 0; i < count; i++) {
        const pod: Pod = { address: `127.0.0.${i + 2}`, served: 0, closedConnections: 0, status: 200 };
        const server = podServer(pod, sockets);
        servers.push(server);
        port = await listen(server, port, pod.address);
        pods.push(pod);
      }
      return { port, pods, close };
    } catch (err) {
      await close();
      if (attempt === 4) throw err;
    }
  }
  throw new Error('unreachable');
}
