/**
 * Two JSON log streams: the access log (one line per request) on stdout, and operational
 * events (start, ready, reload, drain, errors) on stderr, so a log shipper can tell them apart
 * by stream (docs/policy.md, "Operating it").
 *
 * - Operational lines are rare and must be seen at once (a pod that never logs "ready" looks
 *   hung): they are written synchronously.
 * - Access lines are one per request: written asynchronously in batches of 4 KiB so a slow
 *   stdout pipe does not stall the event loop, and flushed every ACCESS_FLUSH_MS so a quiet pod's
 *   lines still show up within a second. Both are flushed synchronously on exit.
 */
import { pino, type Logger } from 'pino';

export type { Logger };

/** How often buffered access-log lines are written out when fewer than 4 KiB are waiting. */
const ACCESS_FLUSH_MS = 250;

export function createLogger(name: string, destinationFd: 1 | 2): Logger {
  const sync = destinationFd === 2;
  const destination = pino.destination({ fd: destinationFd, sync, minLength: sync ? 0 : 4096 });
  if (!sync) {
    const timer = setInterval(() => {
      try {
        destination.flush();
      } catch {
        // Nothing buffered, or a write in progress: the next tick or the next batch writes it.
      }
    }, ACCESS_FLUSH_MS);
    timer.unref();
  }
  return pino(
    {
      name,
      base: undefined,
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    destination,
  );
}

/** Write out whatever is buffered, synchronously (on exit, when nothing asynchronous will run). */
export function flushLogger(logger: Logger): void {
  const stream = (logger as unknown as Record<symbol, unknown>)[pino.symbols.streamSym] as { flushSync?: () => void } | undefined;
  try {
    if (typeof stream?.flushSync === 'function') stream.flushSync();
    else logger.flush();
  } catch {
    // The stream may already be closed on exit; nothing left to save.
  }
}
