/**
 * Start a sidecar in a child process with --expose-gc (memory-child.ts) and measure its memory
 * around a piece of work: `measure(work)` collects garbage in the child, runs `work` from here
 * (the test's clients and upstreams stay in this process), and returns how far the child's rss
 * and its live memory (after gc) rose above that baseline at their peak.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { ListenerLimits } from '../../src/http/limits.js';
import type { ChildReply, MemorySample } from './memory-child.js';
import { writePolicy } from './sidecar.js';

const CHILD = fileURLToPath(new URL('./memory-child.ts', import.meta.url));

export interface Growth {
  readonly baseline: MemorySample;
  readonly peak: MemorySample;
  /** Peak minus baseline, bytes. */
  readonly rss: number;
  readonly live: number;
}

export interface MemorySidecar {
  readonly url: string;
  /** The child's admin server, for /status. */
  readonly adminUrl: string;
  measure(work: () => Promise<void>): Promise<Growth>;
  close(): Promise<void>;
}

export async function memorySidecar(yaml: string, options: { listenerLimits?: Partial<ListenerLimits> } = {}): Promise<MemorySidecar> {
  const child: ChildProcess = fork(CHILD, [writePolicy(yaml), JSON.stringify(options.listenerLimits ?? {})], {
    // The test's own loaders (tap's TypeScript loader and coverage), so the child compiles src/
    // exactly as the tests do: coverage from a differently compiled copy would not merge.
    execArgv: [...process.execArgv, '--expose-gc'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const next = <K extends ChildReply['kind']>(kind: K): Promise<Extract<ChildReply, { kind: K }>> =>
    new Promise((resolve, reject) => {
      const onMessage = (reply: ChildReply): void => {
        if (reply.kind !== kind) return;
        child.off('message', onMessage);
        child.off('exit', onExit);
        resolve(reply as Extract<ChildReply, { kind: K }>);
      };
      const onExit = (code: number | null): void => {
        child.off('message', onMessage);
        reject(new Error(`memory-child exited (${code}) before answering ${kind}`));
      };
      child.on('message', onMessage);
      child.once('exit', onExit);
    });
  const ready = await next('ready');
  return {
    url: `http://127.0.0.1:${ready.port}`,
    adminUrl: `http://127.0.0.1:${ready.admin}`,
    async measure(work) {
      const answer = next('baseline');
      child.send({ cmd: 'baseline' });
      await answer;
      await work();
      const peakAnswer = next('peak');
      child.send({ cmd: 'peak' });
      const { baseline, peak } = await peakAnswer;
      return { baseline, peak, rss: peak.rss - baseline.rss, live: peak.live - baseline.live };
    },
    async close() {
      if (child.exitCode === null) child.send({ cmd: 'close' });
      await exited;
    },
  };
}
