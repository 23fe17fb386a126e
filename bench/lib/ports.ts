/** Free loopback ports, taken from the kernel (port 0) so parallel runs never collide. */
import net from 'node:net';

function onePort(): Promise<{ port: number; server: net.Server }> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve({ port: (server.address() as net.AddressInfo).port, server }));
  });
}

/** `n` distinct free ports (all held open together while choosing, so they differ). */
export async function freePorts(n: number): Promise<number[]> {
  const held = [];
  for (let i = 0; i < n; i++) held.push(await onePort());
  await Promise.all(held.map(({ server }) => new Promise((r) => server.close(r))));
  return held.map((h) => h.port);
}
