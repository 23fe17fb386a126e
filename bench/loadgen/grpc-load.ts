/**
 * The gRPC load client's process: unary calls with @grpc/grpc-js (the client real services
 * use), open loop at a fixed rate, corrected for coordinated omission as the HTTP generator is
 * (generator.ts): call i is intended for t0 + i/rate, a metronome thread (ticker.ts) wakes the
 * loop on time, and latency is measured from the intended time. Calls are not queued behind
 * each other here: HTTP/2 multiplexes them on the channel's one connection, as a gRPC client
 * does. Service time (from the call's start) is kept alongside.
 *
 * Bounded in count (`maxCalls`, and at most MAX_IN_FLIGHT calls open at once) and in time (the
 * window, then a drain of at most the call deadline plus a second, after which what is left is
 * cancelled). Each echo is checked byte for byte: the request carries the call's sequence
 * number, so a mixed-up answer is a `mismatch`, not a success.
 *
 * The runner starts it once per scenario (pinned to the generator's core) and sends it jobs
 * over IPC, one at a time.
 */
import { Worker } from 'node:worker_threads';
import { credentials, makeGenericClientConstructor, Metadata, status, type Client, type ServiceError } from '@grpc/grpc-js';
import { echoService } from '../lib/grpc-service.js';
import type { FromGrpcLoad, GrpcJob, GrpcResult, ToGrpcLoad } from './grpc-protocol.js';
import { encode, newHistogram, recordMs, summarize } from './histogram.js';
import type { TickerData } from './ticker.js';

const nowMs = (): number => Number(process.hrtime.bigint()) / 1e6;
const MIN_TICK_MS = 0.1;
const MAX_IN_FLIGHT = 20_000;
const STATUS_NAMES: Readonly<Record<number, string>> = Object.fromEntries(Object.entries(status).filter(([, v]) => typeof v === 'number').map(([k, v]) => [v as number, k]));

type UnaryFn = (request: Buffer, metadata: Metadata, options: { deadline: Date }, callback: (err: ServiceError | null, reply?: Buffer) => void) => unknown;

let ticker: Promise<Worker> | undefined;
let scheduleId = 0;

/** The metronome thread (the HTTP generator's, from the same bundle directory). */
function metronome(): Promise<Worker> {
  ticker ??= new Promise((resolve, reject) => {
    const worker = new Worker(new URL('./ticker.mjs', import.meta.url));
    worker.once('message', () => resolve(worker));
    worker.once('error', reject);
    worker.unref();
  });
  return ticker;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function outcomeOf(err: ServiceError): string {
  const name = STATUS_NAMES[err.code] ?? String(err.code);
  const why = err.metadata?.get('x-outrider-error')[0];
  return why ? `${name}:${String(why)}` : name;
}

function payload(seq: number, bytes: number): Buffer {
  const b = Buffer.alloc(Math.max(8, bytes), 0x61 + (seq % 26));
  b.writeUInt32LE(seq >>> 0, 0);
  b.writeUInt32LE(Math.floor(seq / 2 ** 32), 4);
  return b;
}

async function connect(job: GrpcJob): Promise<{ client: Client; echo: UnaryFn }> {
  const Ctor = makeGenericClientConstructor(echoService(job.service), job.service);
  // A channel of its own per job (not shared through the global subchannel pool): a fresh
  // HTTP/2 connection to each target, as each service's client would have.
  const client = new Ctor(job.target, credentials.createInsecure(), { 'grpc.use_local_subchannel_pool': 1 });
  await new Promise<void>((resolve, reject) => client.waitForReady(new Date(Date.now() + 5000), (err) => (err ? reject(err) : resolve())));
  const echo = (client as unknown as { Echo: UnaryFn }).Echo.bind(client);
  return { client, echo };
}

async function runJob(job: GrpcJob): Promise<GrpcResult> {
  const { client, echo } = await connect(job);
  const latency = newHistogram();
  const service = newHistogram();
  const outcomes = new Map<string, number>();
  const count = (kind: string): void => void outcomes.set(kind, (outcomes.get(kind) ?? 0) + 1);
  const intervalMs = 1000 / job.rate;
  const startAt = nowMs() + 20;
  const measureFrom = startAt + job.warmupMs;
  const endAt = measureFrom + job.durationMs;
  let issued = 0;
  let sent = 0;
  let completed = 0;
  let inFlight = 0;
  /** Calls in flight, with whether they are measured; what is left after the drain is cancelled. */
  const open = new Map<{ cancel(): void }, boolean>();
  let finished = false;

  const call = (intended: number): void => {
    const seq = issued++;
    const measured = intended >= measureFrom;
    if (measured) sent++;
    if (inFlight >= MAX_IN_FLIGHT) {
      if (measured) count('unsent');
      return;
    }
    inFlight++;
    const request = payload(seq, job.payloadBytes);
    const started = nowMs();
    const handle = echo(request, new Metadata(), { deadline: new Date(Date.now() + job.deadlineMs) }, (err, reply) => {
      const now = nowMs();
      inFlight--;
      open.delete(handle);
      if (!measured || finished) return;
      completed++;
      count(err ? outcomeOf(err) : !reply || !request.equals(reply) ? 'mismatch' : 'OK');
      recordMs(latency, now - intended);
      recordMs(service, now - started);
    }) as { cancel(): void };
    open.set(handle, measured);
  };

  const worker = await metronome();
  const id = ++scheduleId;
  const data: TickerData = { id, startMs: startAt, endMs: endAt, tickMs: Math.max(MIN_TICK_MS, intervalMs) };
  await new Promise<void>((resolve, reject) => {
    const onTick = (tick: unknown): void => {
      if (tick !== id) return;
      const now = nowMs();
      const limit = Math.min(now, endAt);
      // Bounded: by maxCalls, and by the intended times up to now (within the window).
      while (issued < job.maxCalls) {
        const intended = startAt + issued * intervalMs;
        if (intended > limit) break;
        call(intended);
      }
      if (now >= endAt) {
        worker.off('message', onTick);
        worker.off('error', reject);
        resolve();
      }
    };
    worker.on('message', onTick);
    worker.once('error', reject);
    worker.postMessage(data);
  });
  // Drain: bounded by the deadline every call carries, plus a second.
  const until = nowMs() + job.deadlineMs + 1000;
  while (inFlight > 0 && nowMs() < until) await sleep(20);
  finished = true;
  for (const [h, measured] of open) {
    if (measured) count('timeout');
    h.cancel();
  }
  client.close();
  return {
    name: job.label,
    sent,
    completed,
    issued,
    opened: 1,
    achievedRps: Math.round((completed / job.durationMs) * 1000 * 10) / 10,
    outcomes: Object.fromEntries([...outcomes].sort()),
    latency: summarize(latency),
    service: summarize(service),
    histogram: encode(latency),
  };
}

function send(message: FromGrpcLoad): void {
  process.send?.(message);
}

if (!process.send) {
  console.error('bench/loadgen/grpc-load: start me with an IPC channel (the bench runner does)');
  process.exit(2);
}
process.on('message', (m: ToGrpcLoad) => {
  if (m.type === 'exit') {
    process.disconnect?.();
    return;
  }
  runJob(m.job).then(
    (result) => send({ type: 'result', result }),
    (err: unknown) => send({ type: 'error', message: err instanceof Error ? (err.stack ?? err.message) : String(err) }),
  );
});
process.on('disconnect', () => process.exit(0));
send({ type: 'ready' });
