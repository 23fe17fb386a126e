/**
 * An upstream behaviour that holds every request until the test lets it go, and counts how
 * many it holds at once, so tests can assert concurrency and admission by counting instead of
 * timing. Plus `until`, to wait for a condition (never to measure a duration).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Behaviour } from './upstream.js';

export interface Held {
  readonly behaviour: Behaviour;
  /** Requests held right now. */
  readonly count: number;
  /** The most ever held at once. */
  readonly peak: number;
  /** Answer every held request (optionally only those `which` selects) with `status`. */
  release(status?: number, which?: (req: IncomingMessage) => boolean): void;
}

export function holding(): Held {
  let held: { req: IncomingMessage; res: ServerResponse }[] = [];
  let peak = 0;
  const state = {
    behaviour: ((req, res) => {
      held.push({ req, res });
      peak = Math.max(peak, held.length);
      res.on('close', () => (held = held.filter((h) => h.res !== res)));
    }) as Behaviour,
    get count() {
      return held.length;
    },
    get peak() {
      return peak;
    },
    release(status = 200, which: (req: IncomingMessage) => boolean = () => true) {
      const chosen = held.filter((h) => which(h.req));
      held = held.filter((h) => !which(h.req));
      for (const { res } of chosen) {
        res.writeHead(status, { 'content-type': 'text/plain' });
        res.end('released');
      }
    },
  };
  return state;
}

/** Resolve once `check` holds, polling every few milliseconds; fail after `limitMs`. */
export async function until(check: () => boolean | Promise<boolean>, what: string, limitMs = 5_000): Promise<void> {
  const giveUpAt = Date.now() + limitMs;
  while (!(await check())) {
    if (Date.now() > giveUpAt) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}
