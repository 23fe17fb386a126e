/**
 * Two JSON log streams: the access log (one line per request) on stdout, and operational
 * events (start, reload, errors) on stderr, so a log shipper can tell them apart by stream.
 */
import { pino, type Logger } from 'pino';

export type { Logger };

export function createLogger(name: string, destinationFd: 1 | 2): Logger {
  return pino(
    {
      name,
      base: undefined,
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    // Asynchronous writes: a slow stdout pipe must not stall the event loop on the hot path.
    pino.destination({ fd: destinationFd, sync: false, minLength: 4096 }),
  );
}

/** Flush what is buffered (on exit). */
export function flushLogger(logger: Logger): void {
  try {
    logger.flush();
  } catch {
    // The stream may already be closed on exit; nothing left to save.
  }
}
