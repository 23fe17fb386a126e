/**
 * Well-behaved requests with node:http2's client, for tests that need HTTP/2 answers: one
 * request on a session (the test's, or a fresh one closed afterwards), its status and body
 * collected whole, and a bound on the wait so a hung server fails the test instead of tap's
 * timeout.
 */
import { connect, type ClientHttp2Session, type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http2';
import { request } from 'undici';

export interface H2Answer {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
}

export function h2Session(url: string): Promise<ClientHttp2Session> {
  return new Promise((resolve, reject) => {
    const session = connect(url);
    session.once('connect', () => {
      session.off('error', reject);
      // Failures show on the requests; a session error alone must not reach the process.
      session.on('error', () => undefined);
      resolve(session);
    });
    session.once('error', reject);
  });
}

/** One request on `session`; rejects on a stream error, a reset, or after `limitMs`. */
export function h2Request(session: ClientHttp2Session, path: string, headers: OutgoingHttpHeaders = {}, limitMs = 5_000): Promise<H2Answer> {
  return new Promise((resolve, reject) => {
    const stream = session.request({ ':path': path, ...headers });
    const timer = setTimeout(() => {
      stream.close();
      reject(new Error(`no answer to ${path} within ${limitMs} ms`));
    }, limitMs);
    let head: IncomingHttpHeaders = {};
    const chunks: Buffer[] = [];
    stream.on('response', (h) => (head = h));
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    stream.on('close', () => {
      clearTimeout(timer);
      if (head[':status'] === undefined) return reject(new Error(`${path}: stream closed without an answer (rstCode ${stream.rstCode})`));
      resolve({ status: Number(head[':status']), headers: head, body: Buffer.concat(chunks).toString() });
    });
    stream.end();
  });
}

/** A GET on a fresh HTTP/2 connection, closed afterwards. */
export async function h2Get(url: string, path: string): Promise<H2Answer> {
  const session = await h2Session(url);
  try {
    return await h2Request(session, path);
  } finally {
    session.close();
  }
}

/** A GET over HTTP/1.1 (undici), for "the same port still speaks HTTP/1.1". */
export async function http1Get(url: string, path: string): Promise<{ status: number; body: string }> {
  const res = await request(`${url}${path}`, { headersTimeout: 5_000, bodyTimeout: 5_000 });
  return { status: res.statusCode, body: await res.body.text() };
}
