/**
 * The runner's handles on the gRPC load client (loadgen/grpc-load.ts) and the gRPC echo server
 * (upstreams/grpc-echo.ts): both child processes on the generator's core, spoken to over IPC.
 */
import type { FromGrpcEcho, FromGrpcLoad, GrpcEchoConfig, GrpcJob, GrpcResult, ToGrpcEcho } from '../loadgen/grpc-protocol.js';
import { diedReason } from '../peers/target.js';
import { bundlePath } from './build.js';
import { spawnPinned, stop, type Child } from './procs.js';

/** Waits for the first message that `pick` accepts; rejects if the child exits first or `ms` pass. */
function reply<M, T>(child: Child, pick: (m: M) => T | undefined, ms: number, what: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const onMessage = (m: M): void => {
      const value = pick(m);
      if (value !== undefined) done(() => resolve(value));
    };
    const onExit = (): void => done(() => reject(new Error(`${child.name} exited during ${what}: ${child.output().trim().slice(-400)}`)));
    const timer = setTimeout(() => done(() => reject(new Error(`${child.name}: no answer to ${what} within ${ms} ms`))), ms);
    const done = (settle: () => void): void => {
      clearTimeout(timer);
      child.proc.off('message', onMessage);
      child.proc.off('exit', onExit);
      settle();
    };
    child.proc.on('message', onMessage);
    child.proc.once('exit', onExit);
  });
}

export class GrpcLoad {
  private constructor(private readonly child: Child) {}

  static async start(): Promise<GrpcLoad> {
    const child = spawnPinned('grpc-load', process.execPath, [bundlePath('grpcLoad')], { role: 'generator', ipc: true });
    await reply<FromGrpcLoad, true>(child, (m) => (m.type === 'ready' ? true : undefined), 10_000, 'start-up');
    return new GrpcLoad(child);
  }

  /** One job; bounded by its window, its drain (deadline + 1 s) and a margin for connecting. */
  run(job: GrpcJob): Promise<GrpcResult> {
    const ms = job.warmupMs + job.durationMs + job.deadlineMs + 15_000;
    const result = reply<FromGrpcLoad, GrpcResult | Error>(this.child, (m) => (m.type === 'result' ? m.result : m.type === 'error' ? new Error(`grpc-load: ${m.message}`) : undefined), ms, `"${job.label}"`);
    this.child.proc.send({ type: 'run', job });
    return result.then((r) => {
      if (r instanceof Error) throw r;
      return r;
    });
  }

  async close(): Promise<void> {
    if (this.child.proc.connected) this.child.proc.send({ type: 'exit' });
    await stop(this.child, 2000);
  }
}

export class GrpcEcho {
  private nextId = 1;
  readonly died: () => string | undefined;

  private constructor(private readonly child: Child) {
    this.died = diedReason(child);
  }

  static async start(config: GrpcEchoConfig): Promise<GrpcEcho> {
    const child = spawnPinned('grpc-echo', process.execPath, [bundlePath('grpcEcho'), JSON.stringify(config)], { role: 'generator', ipc: true });
    try {
      await reply<FromGrpcEcho, true | Error>(child, (m) => (m.type === 'listening' ? true : m.type === 'error' ? new Error(m.message) : undefined), 10_000, 'start-up').then((r) => {
        if (r instanceof Error) throw r;
      });
    } catch (err) {
      await stop(child);
      throw err;
    }
    return new GrpcEcho(child);
  }

  /** Calls each service received since the last reset (hedges and retries included). */
  stats(reset = false): Promise<Readonly<Record<string, number>>> {
    const id = this.nextId++;
    const answer = reply<FromGrpcEcho, Readonly<Record<string, number>>>(this.child, (m) => (m.type === 'stats' && m.id === id ? m.calls : undefined), 5000, 'stats');
    this.child.proc.send({ type: 'stats', id, reset } satisfies ToGrpcEcho);
    return answer;
  }

  close(): Promise<number | null> {
    return stop(this.child, 2000);
  }
}
