/**
 * Replayable request bodies, for the policies that send a request more than once (retry,
 * hedge, shadow). The body is read into memory only for those routes and only up to
 * `replayBodyLimit`; a larger body makes those policies step aside for that request, and it is
 * streamed as usual: what was already read is sent first, then the rest of the client's stream.
 */
import { Readable } from 'node:stream';
import type { Exchange, RequestBody } from './layer.js';

/** Bodies found too large once, so the next policy asking does not try again. */
const tooLarge = new WeakSet<object>();

/** True when the body can be sent again: none, or bytes in hand. */
export function isReplayable(body: RequestBody): body is null | Buffer {
  return body === null || Buffer.isBuffer(body);
}

/**
 * The exchange with its body read into memory, if it fits in `limitBytes`; otherwise the same
 * request streaming as before (and `onTooLarge` is told, once per request).
 */
export async function replayable(exchange: Exchange, limitBytes: number, onTooLarge: () => void): Promise<Exchange> {
  const body = exchange.request.body;
  if (isReplayable(body) || tooLarge.has(body)) return exchange;
  const declared = Number(exchange.request.incoming.headers['content-length']);
  if (declared > limitBytes) {
    tooLarge.add(body);
    onTooLarge();
    return exchange;
  }
  const read = await readUpTo(body, limitBytes);
  if (Buffer.isBuffer(read)) return withBody(exchange, read);
  tooLarge.add(read);
  onTooLarge();
  return withBody(exchange, read);
}

function withBody(exchange: Exchange, body: Buffer | Readable): Exchange {
  return { ...exchange, request: { ...exchange.request, body } };
}

/** All of the stream as one Buffer, or, past the limit, a stream of what was read and the rest. */
function readUpTo(stream: Readable, limitBytes: number): Promise<Buffer | Readable> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let total = 0;
    const cleanup = (): void => {
      stream.off('data', onData);
      stream.off('end', onEnd);
      stream.off('error', onError);
      stream.off('aborted', onAborted);
    };
    const onData = (chunk: Buffer): void => {
      chunks.push(chunk);
      total += chunk.length;
      if (total <= limitBytes) return;
      stream.pause();
      cleanup();
      resolve(Readable.from(concatStreams(chunks, stream), { objectMode: false }));
    };
    const onEnd = (): void => {
      cleanup();
      resolve(chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, total));
    };
    const onError = (err: Error): void => {
      cleanup();
      reject(err);
    };
    const onAborted = (): void => onError(new Error('client aborted the request body'));
    stream.on('data', onData);
    stream.on('end', onEnd);
    stream.on('error', onError);
    stream.on('aborted', onAborted);
  });
}

async function* concatStreams(head: readonly Buffer[], rest: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
  yield* head;
  yield* rest;
}
