/**
 * Replayable request bodies. Every route receives a body up to `replayBodyLimit` in full
 * before it takes a bulkhead slot or an upstream connection (buffer-body.ts); the policies that
 * send a request more than once (retry, hedge, shadow, scatter-gather) then find the bytes in
 * hand. A larger body makes those policies step aside for that request, and it is streamed as
 * usual: what was already read is sent first, then the rest of the client's stream.
 */
import { PassThrough, pipeline, type Readable } from 'node:stream';
import type { Exchange, ProxyRequest, RequestBody } from './layer.js';
import { Cancelled, type Signal } from './signal.js';

/**
 * A gRPC request body that stops arriving this long without ending is a stream (client or
 * bidirectional streaming), not a unary call: waiting for its end could wait for ever (a bidi
 * client waits for the server's first message). It is passed on as it comes, and not retried.
 */
export const GRPC_BODY_QUIET_MS = 20;

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
  const read = await readUpTo(body, limitBytes, exchange.signal, exchange.request.grpc ? GRPC_BODY_QUIET_MS : 0);
  if (Buffer.isBuffer(read)) return withBody(exchange, read);
  tooLarge.set(read, told);
  onTooLarge?.();
  return withBody(exchange, read);
}

function withBody(exchange: Exchange, body: Buffer | Readable): Exchange {
  return { ...exchange, request: { ...exchange.request, body } };
}

/** All of the stream as one Buffer, or, past the limit, a stream of what was read and the rest. */
function readUpTo(stream: Readable, limitBytes: number, signal: Signal, quietMs: number): Promise<Buffer | Readable> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let total = 0;
    let quiet: NodeJS.Timeout | undefined;
    const passOn = (): void => {
      stream.pause();
      cleanup();
      resolve(concatStreams(chunks, stream));
    };
    const wait = (): void => {
      if (quietMs <= 0) return;
      clearTimeout(quiet);
      quiet = setTimeout(passOn, quietMs);
    };
    const cleanup = (): void => {
      clearTimeout(quiet);
      stream.off('data', onData);
      stream.off('end', onEnd);
      stream.off('error', onError);
      stream.off('aborted', onAborted);
      signal.offAbort(onError);
    };
    const onData = (chunk: Buffer): void => {
      chunks.push(chunk);
      total += chunk.length;
      if (total <= limitBytes) return wait();
      passOn();
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
    wait();
  });
}

/**
 * What was read, then the rest of the stream, as one stream. Piped, not async-iterated: an
 * async iterator over node:http2's paused compatibility request stops after its first chunk
 * (found with a bidi gRPC call), and pipeline carries errors and aborts on to the upstream.
 */
function concatStreams(head: readonly Buffer[], rest: Readable): Readable {
  const joined = new PassThrough();
  for (const chunk of head) joined.write(chunk);
  pipeline(rest, joined, ignoreError);
  return joined;
}

function ignoreError(): void {
  // pipeline has destroyed `joined` with the error; whoever reads it (undici) sees it there.
}

/**
 * May retry or hedge send this request again? Only with a listed method (the idempotent ones by
 * default), never an upgrade. gRPC calls are all POST, so `methods` does not apply to them
 * (traffic.md, gRPC): a route's retry and hedge cover its unary calls, and non-idempotent
 * RPCs belong on a route without either.
 */
export function mayRepeat(request: ProxyRequest, methods: readonly string[]): boolean {
  if (request.upgrade !== undefined) return false;
  return request.grpc || methods.includes(request.method);
}
