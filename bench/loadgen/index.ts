/**
 * The runner's handle on the load-generator process: start it pinned to the generator's core,
 * send it jobs one at a time, get results back.
 */
import { bundlePath } from '../lib/build.js';
import { spawnPinned, stop, type Child } from '../lib/procs.js';
import type { FromWorker, LoadJob, LoadResult } from './protocol.js';

export class LoadGenerator {
  private constructor(private readonly child: Child) {}

  static async start(): Promise<LoadGenerator> {
    const child = spawnPinned('loadgen', process.execPath, [bundlePath('loadgen')], { role: 'generator', ipc: true, inherit: true });
    await new Promise<void>((resolve, reject) => {
      child.proc.once('message', (m: FromWorker) => (m.type === 'ready' ? resolve() : reject(new Error('loadgen: unexpected first message'))));
      void child.exited.then((code) => reject(new Error(`loadgen exited (${code}) before it was ready`)));
    });
    return new LoadGenerator(child);
  }

  run(job: LoadJob): Promise<LoadResult> {
    return new Promise((resolve, reject) => {
      const onExit = (): void => reject(new Error(`loadgen died during "${job.label}"`));
      this.child.proc.once('exit', onExit);
      this.child.proc.once('message', (m: FromWorker) => {
        this.child.proc.off('exit', onExit);
        if (m.type === 'result') resolve(m.result);
        else reject(new Error(m.type === 'error' ? `loadgen: ${m.message}` : 'loadgen: unexpected message'));
      });
      this.child.proc.send({ type: 'run', job });
    });
  }

  async close(): Promise<void> {
    if (this.child.proc.connected) this.child.proc.send({ type: 'exit' });
    await stop(this.child, 2000);
  }
}
