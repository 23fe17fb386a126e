/**
 * A sidecar alone in a child process (started by `memorySidecar()` with --expose-gc), so a test
 * can measure the sidecar's own memory: not the test runner's, not the test's upstreams and
 * clients, and after a real `gc()`. The parent talks to it over IPC:
 *
 * - `{ cmd: 'baseline' }`: collect garbage, note the baseline, and from then on sample every
 *   SAMPLE_MS, keeping the peaks: rss as it is (garbage included), then, after a `gc()`, the
 *   live memory (heap in use, ArrayBuffers and other off-heap memory such as Buffers), which is
 *   what a buffered body would hold and streaming must not;
 * - `{ cmd: 'peak' }`: stop sampling and answer the baseline and the peaks;
 * - `{ cmd: 'close' }`: shut the sidecar down and exit.
 *
 * The sampling measures; it never decides when anything happens. Arguments: the policy file,
 * then (optionally) listener limits to override, as JSON.
 */
import { pino } from 'pino';
import type { ListenerLimits } from '../../src/http/limits.js';
import { Sidecar } from '../../src/sidecar.js';

export interface MemorySample {
  /** Resident set size, garbage not yet collected included. */
  readonly rss: number;
  /** Live memory right after a full gc: heap in use + ArrayBuffers + external (Buffers). */
  readonly live: number;
}

const SAMPLE_MS = 20;

export type ChildReply =
  | { readonly kind: 'ready'; readonly port: number; readonly admin: number }
  | { readonly kind: 'baseline'; readonly baseline: MemorySample }
  | { readonly kind: 'peak'; readonly baseline: MemorySample; readonly peak: MemorySample };

const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) throw new Error('memory-child needs --expose-gc');
const send = (reply: ChildReply): void => void process.send?.(reply);

function sample(collect: () => void): MemorySample {
  const rss = process.memoryUsage.rss();
  collect();
  const m = process.memoryUsage();
  return { rss, live: m.heapUsed + m.arrayBuffers + m.external };
}

const max = (a: MemorySample, b: MemorySample): MemorySample => ({ rss: Math.max(a.rss, b.rss), live: Math.max(a.live, b.live) });

const quiet = { write: () => undefined };
const sidecar = await Sidecar.start({
  configFile: process.argv[2] ?? '',
  watch: false,
  logger: pino({ base: undefined }, quiet),
  accessLog: quiet,
  listenerLimits: JSON.parse(process.argv[3] ?? '{}') as Partial<ListenerLimits>,
});

let baseline: MemorySample = sample(gc);
let peak: MemorySample = baseline;
let sampler: NodeJS.Timeout | undefined;

process.on('message', (message: { cmd: string }) => {
  if (message.cmd === 'baseline') {
    gc();
    baseline = sample(gc);
    peak = baseline;
    clearInterval(sampler);
    sampler = setInterval(() => (peak = max(peak, sample(gc))), SAMPLE_MS);
    send({ kind: 'baseline', baseline });
  } else if (message.cmd === 'peak') {
    clearInterval(sampler);
    peak = max(peak, sample(gc));
    send({ kind: 'peak', baseline, peak });
  } else if (message.cmd === 'close') {
    clearInterval(sampler);
    void sidecar.shutdown().then(() => process.exit(0));
  }
});

send({ kind: 'ready', port: sidecar.listenerPort('outbound'), admin: sidecar.adminPort() });
