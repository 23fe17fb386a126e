/**
 * Two JSON log streams: the access log (one line per request, access-log.ts) on stdout, and
 * operational events (start, ready, reload, drain, errors) on stderr, so a log shipper can tell
 * them apart by stream (docs/policy.md, "Operating it"). Operational lines are rare and must be
 * seen at once (a pod that never logs "ready" looks hung): they are written synchronously.
 */
import { pino, type Logger } from 'pino';

export type { Logger };

export function createLogger(name: string, destinationFd: 1 | 2): Logger {
  const destination = pino.destination({ fd: destinationFd, sync: true });
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
