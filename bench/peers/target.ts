/** What the overhead scenario needs from anything it sends load through. */

export type Started =
  | {
      readonly ok: true;
      readonly port: number;
      /** Process (tree) to measure CPU and memory of; undefined for "direct". */
      readonly pid: number | undefined;
      /** Spawn to first 200. */
      readonly readyMs: number | undefined;
      stop(): Promise<void>;
    }
  | { readonly ok: false; readonly reason: string };

/** The informative part of a start-up failure: alert/error lines first, else the first lines. */
export function failureReason(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  const lines = message.split('\n').map((l) => l.trim()).filter(Boolean);
  const first = lines[0] ?? 'failed to start';
  const loud = lines.filter((l) => /alert|error|emerg|fatal|invalid|unknown/i.test(l));
  return loud.length > 0 ? `${first.split(':')[0]}: ${loud.slice(0, 2).join(' | ')}` : lines.slice(0, 2).join(' | ');
}
