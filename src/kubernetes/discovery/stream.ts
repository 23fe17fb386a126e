/**
 * One watch request, on @kubernetes/client-node's Watch (the wire format: a 200 answer, then
 * newline-delimited JSON events), turned into one promise that says how it ended:
 *
 * - resolves when the watch ends without an outage: the server closed it (its timeoutSeconds,
 *   a restart), the stream broke after it had opened (servers and load balancers cut watches;
 *   if the server is really gone, the next attempt fails), our deadline, or stop();
 * - rejects with Gone on 410 (an ERROR event, or the answer's own status): list again;
 * - rejects with an Error for anything else: an answer other than 200, an ERROR event, no
 *   answer within the request deadline, a refused connection.
 *
 * Deadlines: until the answer's headers arrive, `requestTimeoutMs`; then the timeoutSeconds
 * asked of the server plus a grace, so a connection gone silent (a partition sends no reset)
 * still ends. A request that never answers cannot be aborted (Watch hands out its controller
 * only with the answer): it is abandoned, and aborted if the answer ever comes.
 */
import { Watch, type KubeConfig } from '@kubernetes/client-node';
import { ApiError } from './kube-api.js';

/** The server no longer has our resourceVersion: list again. */
export class Gone extends Error {}

export interface WatchRequest {
  readonly path: string;
  readonly params: Record<string, string | number | boolean | undefined> & { readonly timeoutSeconds: number };
  readonly requestTimeoutMs: number;
  readonly graceMs: number;
  /** The 200 has arrived: the watch is open. */
  onOpen(): void;
  /** One event; an error it carries is returned (Watch swallows what its callback throws). */
  onEvent(type: string, object: unknown): Error | undefined;
}

export function watchOnce(kc: KubeConfig, request: WatchRequest): { readonly ended: Promise<void>; stop(): void } {
  let stop: () => void = () => undefined;
  const ended = new Promise<void>((resolve, reject) => {
    let controller: AbortController | undefined;
    let opened = false;
    let finished = false;
    const end = (err?: Error): void => {
      if (finished) return;
      finished = true;
      clearTimeout(deadline);
      controller?.abort();
      if (err === undefined || (opened && !(err instanceof Gone) && !(err instanceof ApiError))) resolve();
      else reject(err);
    };
    stop = () => end();
    let deadline = setTimeout(() => end(new Error(`watch ${request.path}: no answer within ${request.requestTimeoutMs} ms`)), request.requestTimeoutMs);
    deadline.unref();
    // Watch calls `done` once: at the stream's end, or with the error that stopped it (an
    // answer other than 200 carries its status as `statusCode`).
    const done = (err: unknown): void => {
      const status = (err as { statusCode?: number } | null)?.statusCode;
      if (err === null || err === undefined) end();
      else if (status === 410) end(new Gone());
      else if (status !== undefined) end(new ApiError(status, `watch ${request.path}: HTTP ${status} ${(err as Error).message}`));
      // node-fetch's messages repeat the whole URL: keep the reason.
      else end(new Error(`watch ${request.path}: ${(err as Error).message.replace(/^request to \S+ failed, reason: /, '')}`));
    };
    const onEvent = (type: string, object: unknown): void => {
      if (finished) return;
      const problem = request.onEvent(type, object);
      if (problem !== undefined) end(problem);
    };
    new Watch(kc).watch(request.path, request.params, onEvent, done).then(
      (c) => {
        controller = c;
        if (finished) return c.abort();
        // Watch resolves once the 200 has arrived (an answer with an error has called `done`).
        opened = true;
        clearTimeout(deadline);
        deadline = setTimeout(() => end(), request.params.timeoutSeconds * 1000 + request.graceMs);
        deadline.unref();
        request.onOpen();
      },
      (err: unknown) => end(err as Error),
    );
  });
  return { ended, stop };
}
