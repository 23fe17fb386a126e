/**
 * `h2load` (nghttp2's HTTP/2 load generator, C, Debian's nghttp2-client) for HTTP/2
 * throughput: closed loop, `-c` connections with `-m` concurrent streams each, h2c with prior
 * knowledge for http:// URLs. One thread, on the generator's core. Timing-based (`-D` after
 * `--warm-up-time`), and stopped by the runner if it overruns its window by 10 s.
 */
import { spawnPinned, stop } from './procs.js';
import { findBinary } from './tmp.js';

export function h2loadInstalled(): boolean {
  return findBinary('h2load') !== undefined;
}

export interface H2loadResult {
  readonly rps: number;
  /** The protocol h2load negotiated (`h2c` for an HTTP/2 server without TLS). */
  readonly protocol: string | undefined;
  readonly done: number;
  readonly succeeded: number;
  /** failed + errored + timeout, as h2load counts them. */
  readonly failed: number;
  readonly status2xx: number;
  /** 3xx, 4xx and 5xx answers. */
  readonly statusOther: number;
}

export interface H2loadOptions {
  readonly connections: number;
  readonly streams: number;
  readonly warmupMs: number;
  readonly durationMs: number;
}

/** Parses h2load's summary; undefined when it has none (h2load failed). */
export function parseH2load(output: string): H2loadResult | undefined {
  const rps = /finished in [\d.]+m?s, ([\d.]+) req\/s/.exec(output);
  const requests = /requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout/.exec(output);
  const codes = /status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx/.exec(output);
  if (!rps || !requests || !codes) return undefined;
  const n = (m: RegExpExecArray, i: number): number => Number(m[i]);
  return {
    rps: Number(rps[1]),
    protocol: /Application protocol: (\S+)/.exec(output)?.[1],
    done: n(requests, 3),
    succeeded: n(requests, 4),
    failed: n(requests, 5) + n(requests, 6) + n(requests, 7),
    status2xx: n(codes, 1),
    statusOther: n(codes, 2) + n(codes, 3) + n(codes, 4),
  };
}

/** One run against `url`; undefined when h2load is missing, or failed without a summary. */
export async function h2loadRun(url: string, o: H2loadOptions): Promise<{ result: H2loadResult | undefined; output: string } | undefined> {
  const bin = findBinary('h2load');
  if (!bin) return undefined;
  const args = ['-t', '1', '-c', String(o.connections), '-m', String(o.streams), '-D', `${Math.max(1, Math.round(o.durationMs))}ms`, '--warm-up-time', `${Math.max(1, Math.round(o.warmupMs))}ms`, url];
  const child = spawnPinned('h2load', bin, args, { role: 'generator' });
  // Bounded in time: h2load's own -D, and a stop if it overruns by 10 s.
  const timer = setTimeout(() => void stop(child, 1000), o.warmupMs + o.durationMs + 10_000);
  await child.exited;
  clearTimeout(timer);
  const output = child.output();
  return { result: parseH2load(output), output };
}
