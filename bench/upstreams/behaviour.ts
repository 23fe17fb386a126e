/**
 * What a simulated upstream endpoint does with a request, drawn from a seeded PRNG so a
 * scenario replays the same sequence of delays and failures from the same seed.
 */

export type LatencyModel =
  | { readonly kind: 'fixed'; readonly ms: number }
  /** Log-normal around `medianMs`; `sigma` is the spread of ln(latency) (0.25 is a mild tail). */
  | { readonly kind: 'lognormal'; readonly medianMs: number; readonly sigma: number };

export interface Behaviour {
  readonly latency: LatencyModel;
  /** X% of requests Y-Z ms slower: `ratio` 0-1 of requests get an extra uniform `minMs`-`maxMs`. */
  readonly tail?: { readonly ratio: number; readonly minMs: number; readonly maxMs: number };
  /** Share of requests answered 503 (after the latency). */
  readonly error5xxRatio?: number;
  /** Share of requests whose connection is reset instead of answered. */
  readonly resetRatio?: number;
  /** Refuse connections: the listener is closed and open connections are dropped. */
  readonly refuse?: boolean;
  /** At most this many requests served at once; the rest wait in FIFO order (a server's workers). */
  readonly concurrency?: number;
  /** Response body; default: 100 bytes of JSON naming the endpoint (the nginx upstream's size). */
  readonly body?: string;
}

export const instant: Behaviour = { latency: { kind: 'fixed', ms: 0 } };

/** mulberry32: tiny, fast, good enough for drawing delays; same seed, same sequence. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A standard normal draw (Box-Muller). */
function normal(random: () => number): number {
  const u = 1 - random(); // (0, 1], so the log is finite
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * random());
}

export type Action = { readonly kind: 'respond'; readonly status: number; readonly delayMs: number } | { readonly kind: 'reset'; readonly delayMs: number };

/** Decides one request's fate. Draw order is fixed so a seed always means the same sequence. */
export function decide(b: Behaviour, random: () => number): Action {
  let delayMs = b.latency.kind === 'fixed' ? b.latency.ms : b.latency.medianMs * Math.exp(b.latency.sigma * normal(random));
  const tailDraw = random();
  const extraDraw = random();
  const failDraw = random();
  if (b.tail && tailDraw < b.tail.ratio) delayMs += b.tail.minMs + extraDraw * (b.tail.maxMs - b.tail.minMs);
  if (b.resetRatio && failDraw < b.resetRatio) return { kind: 'reset', delayMs };
  if (b.error5xxRatio && failDraw < (b.resetRatio ?? 0) + b.error5xxRatio) return { kind: 'respond', status: 503, delayMs };
  return { kind: 'respond', status: 200, delayMs };
}

export function defaultBody(endpoint: string): string {
  const head = `{"endpoint":"${endpoint}","pad":"`;
  return head + 'x'.repeat(Math.max(0, 100 - head.length - 2)) + '"}';
}
