/**
 * Replayable request bodies. Every route receives a body up to `replayBodyLimit` in full
 * before it takes a bulkhead slot or an upstream connection (buffer-body.ts); the policies that
 * send a request more than once (retry, hedge, shadow, scatter-gather) then find the bytes in
 * hand. A larger body makes those policies step aside for that request, and it is streamed as
 * usual: what was already read is sent first, then the rest of the client's stream.
 */
import { Readable } from 'node:stream';
import type { Exchange, RequestBody } from './layer.js';
import { Cancelled, type Signal } from './signal.js';

/** Bodies found too large once, so the next one asking does not read again; `told` once a policy counted it. */
const tooLarge = new WeakMap<object, { told: boolean }>();

/** True when the body can be sent again: none, or bytes in hand. */
export function isReplayable(body: RequestBody): body is null | Buffer {
  return body === null || Buffer.isBuffer(body);
}

/**
 * The exchange with its body read into memory, if it fits in `limitBytes`; otherwise the same
 * request streaming as before (and `onTooLarge`, when given, is told once per request). The
 * read stops when the exchange's signal aborts (an idle client, a client gone).
 */
export async function replayable(exchange: Exchange, limitBytes: number, onTooLarge?: () => void): Promise<Exchange> {
  const body = exchange.request.body;
  if (isReplayable(body)) return exchange;
  const known = tooLarge.get(body);
  if (known !== undefined) {
    if (onTooLarge !== undefined && !known.told) {
      known.told = true;
      onTooLarge();
    }
    return exchange;
  }
  const told = { told: onTooLarge !== undefined };
  const declared = Number(exchange.request.incoming.headers['content-length']);
  if (declared > limitBytes) {
    tooLarge.set(body, told);
    onTooLarge?.();
    return exchange;
  }
  const read = await readUpTo(body, limitBytes, exchange.signal);
  if (Buffer.isBuffer(read)) return withBody(exchange, read);
  tooLarge.set(read, told);
  onTooLarge?.();
  return withBody(exchange, read);
}

function withBody(exchange: Exchange, body: Buffer | Readable): Exchange {
  return { ...exchange, request: { ...exchange.request, body } };
}

/** All of the stream as one Buffer, or, past the limit, a stream of what was read and the rest. */
function readUpTo(stream: Readable, limitBytes: number, signal: Signal): Promise<Buffer | Readable> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let total = 0;
    const cleanup = (): void => {
      stream.off('data', onData);
      stream.off('end', onEnd);
      stream.off('error', onError);
      stream.off('aborted', onAborted);
      signal.offAbort(onError);
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
    // The client's own doing, not an upstream's failure: no breaker or error metric counts it.
    const onAborted = (): void => onError(new Cancelled('client aborted the request body'));
    stream.on('data', onData);
    stream.on('end', onEnd);
    stream.on('error', onError);
    stream.on('aborted', onAborted);
    signal.onAbort(onError);
  });
}

async function* concatStreams(head: readonly Buffer[], rest: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
  yield* head;
  yield* rest;
}
