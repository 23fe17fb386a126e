/**
 * Real upstream servers on 127.0.0.1 for tests: each request is recorded, then answered by a
 * behaviour that can be swapped mid-test (echo, status, delay, reset, slow body…).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export interface RecordedRequest {
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingMessage['headers'];
  readonly rawHeaders: readonly string[];
  readonly bodyBytes: number;
  /** The exact body bytes, kept when at most RECORDED_BODY_LIMIT (undefined above: only counted). */
  readonly body: Buffer | undefined;
}

/** Bodies up to this size are kept in `requests[i].body` for byte-exact checks. */
export const RECORDED_BODY_LIMIT = 1024 * 1024;

/**
 * One request as the upstream saw it from its first byte, before its body has ended: so a test
 * can tell "never reached the upstream" from "reached it and was cut", which `requests` (filled
 * once the body has ended) cannot.
 */
export interface Arrival {
  readonly method: string;
  readonly url: string;
  /** The response was closed before it finished: the connection was cut under it (the proxy aborted it). */
  aborted: boolean;
  /** The response closed, finished or not. */
  closed: boolean;
  /** The request body ended (all of it arrived). */
  bodyEnded: boolean;
}

export type Behaviour = (req: IncomingMessage, res: ServerResponse, body: Buffer) => void;

export interface TestUpstream {
  readonly port: number;
  readonly url: string;
  readonly requests: RecordedRequest[];
  /** Every request from its first byte, in order of arrival (see Arrival). */
  readonly arrivals: Arrival[];
  /** Requests that arrived, including those whose body is still being read. */
  arrived: number;
  behave(behaviour: Behaviour): void;
  close(): Promise<void>;
}

/** Answers 200 with a JSON echo of what it received. */
export const echo: Behaviour = (req, res, body) => {
  const payload = JSON.stringify({ method: req.method, url: req.url, headers: req.headers, bodyBytes: body.length });
  res.writeHead(200, { 'content-type': 'application/json', 'x-upstream': 'echo' });
  res.end(payload);
};

export const status =
  (code: number, text = ''): Behaviour =>
  (_req, res) => {
    res.writeHead(code, { 'content-type': 'text/plain' });
    res.end(text);
  };

/** Destroys the connection before any response byte. */
export const reset: Behaviour = (req) => {
  req.socket.destroy();
};

export const delayed =
  (ms: number, then: Behaviour = echo): Behaviour =>
  (req, res, body) => {
    const timer = setTimeout(() => then(req, res, body), ms);
    res.on('close', () => clearTimeout(timer));
  };

/** A body of `total` bytes written in `chunk`-byte pieces, honouring backpressure. */
export const largeBody =
  (total: number, chunk = 64 * 1024): Behaviour =>
  (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(total) });
    let sent = 0;
    const piece = Buffer.alloc(chunk, 0x61);
    const pump = (): void => {
      while (sent < total) {
        const size = Math.min(chunk, total - sent);
        sent += size;
        if (!res.write(size === chunk ? piece : piece.subarray(0, size))) {
          res.once('drain', pump);
          return;
        }
      }
      res.end();
    };
    pump();
  };

/** Sends headers and part of the body, then resets the connection. */
export const resetMidBody: Behaviour = (_req, res) => {
  res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '100000' });
  res.write(Buffer.alloc(1000, 0x62));
  setTimeout(() => res.socket?.destroy(), 20);
};

export async function startUpstream(behaviour: Behaviour = echo, options: { maxHeaderSize?: number } = {}): Promise<TestUpstream> {
  let current = behaviour;
  const requests: RecordedRequest[] = [];
  const arrivals: Arrival[] = [];
  const sockets = new Set<Socket>();
  const upstream = {
    port: 0,
    url: '',
    requests,
    arrivals,
    arrived: 0,
    behave(next: Behaviour) {
      current = next;
    },
    close: async () => {},
  };
  const server: Server = createServer(options, (req, res) => {
    upstream.arrived += 1;
    const arrival: Arrival = { method: req.method ?? '', url: req.url ?? '', aborted: false, closed: false, bodyEnded: false };
    arrivals.push(arrival);
    res.on('close', () => {
      arrival.closed = true;
      arrival.aborted = !res.writableFinished;
    });
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      arrival.bodyEnded = true;
      const body = Buffer.concat(chunks);
      const kept = body.length <= RECORDED_BODY_LIMIT ? body : undefined;
      requests.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, rawHeaders: req.rawHeaders, bodyBytes: body.length, body: kept });
      current(req, res, body);
    });
  });
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  upstream.port = (server.address() as AddressInfo).port;
  upstream.url = `http://127.0.0.1:${upstream.port}`;
  upstream.close = async () => {
    for (const s of sockets) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  return upstream;
}

/** A port on which nothing listens (bound, then released), for connection-refused tests. */
export async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
