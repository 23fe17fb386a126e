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
