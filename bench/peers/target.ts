/** What the overhead scenario needs from anything it sends load through. */
import type { Child } from '../lib/procs.js';

export type Started =
  | {
      readonly ok: true;
      readonly port: number;
      /** Process (tree) to measure CPU and memory of; undefined for "direct". */
      readonly pid: number | undefined;
      /** Spawn to first 200. */
      readonly readyMs: number | undefined;
      stop(): Promise<void>;
      /** Why the process is gone, if it exited (a crash mid-run must not pass for a slow proxy). */
      died(): string | undefined;
    }
  | { readonly ok: false; readonly reason: string };

/** `died()` for a child process: its exit code and the last lines it printed. */
export function diedReason(child: Child): () => string | undefined {
  let code: number | null | undefined;
  void child.exited.then((c) => (code = c));
  return () => {
    if (code === undefined) return undefined;
    const tail = child.output().trim().split('\n').slice(-3).join(' | ');
    return `${child.name} exited (${code}) during the run${tail ? `: ${tail.slice(0, 400)}` : ''}`;
  };
}

/** The informative part of a start-up failure: alert/error lines first, else the first lines. */
export function failureReason(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  const lines = message.split('\n').map((l) => l.trim()).filter(Boolean);
  const first = lines[0] ?? 'failed to start';
  const loud = lines.filter((l) => /alert|error|emerg|fatal|invalid|unknown/i.test(l));
  return loud.length > 0 ? `${first.split(':')[0]}: ${loud.slice(0, 2).join(' | ')}` : lines.slice(0, 2).join(' | ');
}
