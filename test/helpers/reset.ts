/**
 * Send bytes on a fresh connection, optionally wait for the first answer bytes (or the
 * server's close), then reset the connection (SO_LINGER 0: an RST, not a FIN), as a crashing or
 * impatient client does. Returns what came back before the reset.
 */
import net from 'node:net';
import tls from 'node:tls';

export interface ResetOptions {
  /** Wait for the first bytes of an answer (or the close) before resetting; default true. */
  readonly awaitAnswer?: boolean;
  /** Give up waiting after this long (a bound, not a synchronisation); default 3000 ms. */
  readonly timeoutMs?: number;
}

export function sendThenReset(port: number, bytes: string | Buffer, options: ResetOptions = {}): Promise<string> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    let done = false;
    const finish = (): void => {
      if (done) return;
      done = true;
      clearTimeout(bound);
      if (!socket.destroyed) socket.resetAndDestroy();
      resolve(Buffer.concat(chunks).toString('latin1'));
    };
    const bound = setTimeout(finish, options.timeoutMs ?? 3000);
    socket.on('error', () => finish());
    socket.on('close', finish);
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      finish();
    });
    socket.once('connect', () => {
      socket.write(typeof bytes === 'string' ? Buffer.from(bytes, 'latin1') : bytes, () => {
        if (options.awaitAnswer === false) finish();
      });
    });
  });
}

/** The bytes of a real TLS ClientHello, as node's TLS client sends them (caught by a plain TCP server). */
export async function tlsClientHello(): Promise<Buffer> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  const hello = new Promise<Buffer>((resolve) =>
    server.once('connection', (socket) => {
      socket.once('data', (chunk: Buffer) => {
        socket.destroy();
        resolve(chunk);
      });
    }),
  );
  const client = tls.connect({ port, host: '127.0.0.1', servername: 'example.com', rejectUnauthorized: false });
  client.on('error', () => undefined);
  const bytes = await hello;
  client.destroy();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return bytes;
}
