/**
 * The load generator: runs one job (several streams at once) and returns histograms and counts.
 *
 * Open loop, corrected for coordinated omission (as wrk2 does): request i of a stream at rate R
 * is *intended* for t0 + i/R. A metronome thread (ticker.ts) wakes the loop on time, each wake-up
 * sends every request whose intended time has passed, and latency is measured from that
 * intended time, not from the wake-up or the socket write. A request that finds every
 * connection busy waits in a queue and that wait counts too: a stalled target cannot hide its
 * stall by slowing the generator down. Service time (from the write) is kept alongside.
 *
 * Closed loop (`max`): each connection sends its next request as soon as the previous answer
 * arrives; this measures throughput, and latency there is service time.
 */
import { Worker } from 'node:worker_threads';
import { Connection, type ClientConnection, type Outcome } from './connection.js';
import { encode, newHistogram, recordMs, summarize, type Histogram } from './histogram.js';
import type { LoadJob, LoadResult, StreamResult, StreamSpec, Trace } from './protocol.js';
import type { TickerData } from './ticker.js';
import { WsConnection } from './websocket.js';

/** Milliseconds on process.hrtime's clock, which the ticker thread shares (nowMs() is per thread). */
export const nowMs = (): number => Number(process.hrtime.bigint()) / 1e6;
/** Add to a `nowMs()` value to get epoch milliseconds. */
const EPOCH_OFFSET = performance.timeOrigin + performance.now() - nowMs();
/** The finest tick worth asking for: below this the cross-thread wake-up costs more than it buys. */
const MIN_TICK_MS = 0.1;

/** How long after the end of the window queued and in-flight requests may still finish. */
const DRAIN_MS = 3000;
const SWEEP_MS = 50;

export interface Progress {
  readonly label: string;
  readonly fraction: number;
  readonly completed: number;
  readonly errors: number;
}

class Stream {
  readonly latency: Histogram = newHistogram();
  readonly service: Histogram = newHistogram();
  readonly outcomes = new Map<string, number>();
  readonly conns: ClientConnection[] = [];
  readonly idle: ClientConnection[] = [];
  /** Intended send times waiting for a free connection (FIFO ring, bounded by maxRequests). */
  private readonly queue: Float64Array;
  private qHead = 0;
  private qLen = 0;
  issued = 0;
  sent = 0;
  completed = 0;
  errors = 0;
  inFlight = 0;
  readonly trace: { intended: number[]; latency: number[]; outcome: string[] } | undefined;
  readonly intervalMs: number;

  constructor(
    readonly spec: StreamSpec,
    private readonly run: Run,
    host: string,
    port: number,
  ) {
    this.intervalMs = spec.mode.kind === 'rate' ? 1000 / spec.mode.rps : 0;
    this.queue = new Float64Array(Math.max(1, Math.min(spec.maxRequests, 1 << 22)));
    this.trace = run.job.trace ? { intended: [], latency: [], outcome: [] } : undefined;
    const request = encodeRequest(host, port, spec);
    const onOutcome = (c: ClientConnection, outcome: Outcome): void => this.onOutcome(c, outcome);
    for (let i = 0; i < spec.connections; i++) {
      const conn = spec.websocket
        ? new WsConnection(host, port, spec.path, spec.websocket.messageBytes, onOutcome)
        : new Connection(host, port, request, onOutcome, run.job.tls);
      this.conns.push(conn);
      this.idle.push(conn);
    }
  }

  get queued(): number {
    return this.qLen;
  }

  enqueue(intended: number): void {
    if (this.qLen === this.queue.length) {
      this.count('unsent'); // only if the target stalls for longer than the whole job's budget
      return;
    }
    this.queue[(this.qHead + this.qLen) % this.queue.length] = intended;
    this.qLen++;
    this.issued++;
  }

  /** Hands queued requests to idle connections. */
  pump(now: number): void {
    while (this.qLen > 0 && this.idle.length > 0) {
      const intended = this.queue[this.qHead] as number;
      this.qHead = (this.qHead + 1) % this.queue.length;
      this.qLen--;
      this.write(this.idle.pop() as ClientConnection, now, intended);
    }
  }

  write(conn: ClientConnection, now: number, intended: number): void {
    this.inFlight++;
    if (intended >= this.run.measureFrom) this.sent++;
    conn.send(now, intended);
  }

  private onOutcome(conn: ClientConnection, outcome: Outcome): void {
    const now = nowMs();
    this.inFlight--;
    const started = conn.lastStartedAt;
    const intended = conn.intended;
    if (intended >= this.run.measureFrom) this.record(now, intended, started, outcome);
    this.idle.push(conn);
    if (this.spec.mode.kind === 'max') this.run.nextClosedLoop(this, now);
    else this.pump(now);
  }

  private record(now: number, intended: number, started: number, outcome: Outcome): void {
    const kind = outcomeKind(outcome);
    this.count(kind);
    if (outcome.kind === 'response') {
      this.completed++;
      recordMs(this.latency, now - intended);
      recordMs(this.service, now - started);
    }
    if (kind !== '2xx') this.errors++;
    if (this.trace) {
      this.trace.intended.push(round3(intended - this.run.measureFrom));
      this.trace.latency.push(round3(now - intended));
      this.trace.outcome.push(kind);
    }
  }

  count(kind: string): void {
    this.outcomes.set(kind, (this.outcomes.get(kind) ?? 0) + 1);
  }

  /** Requests still queued or in flight when the drain ends never got an answer. */
  abandonRest(): void {
    for (let i = 0; i < this.qLen; i++) this.count('unsent');
    this.qLen = 0;
    for (const conn of this.conns) if (conn.busy) conn.abort('timeout');
  }

  result(measuredMs: number): StreamResult {
    const trace: Trace | undefined = this.trace
      ? { intendedMs: this.trace.intended, latencyMs: this.trace.latency, outcome: this.trace.outcome }
      : undefined;
    return {
      name: this.spec.name,
      sent: this.sent,
      completed: this.completed,
      opened: this.conns.reduce((n, c) => n + c.opened, 0),
      achievedRps: Math.round((this.completed / measuredMs) * 1000 * 10) / 10,
      outcomes: Object.fromEntries([...this.outcomes].sort()),
      latency: summarize(this.latency),
      service: summarize(this.service),
      histogram: encode(this.latency),
      ...(trace ? { trace } : {}),
    };
  }
}

const round3 = (x: number): number => Math.round(x * 1000) / 1000;

function outcomeKind(outcome: Outcome): string {
  if (outcome.kind === 'upgrade') return `upgrade:${outcome.status}${outcome.errorCode ? `:${outcome.errorCode}` : ''}`;
  if (outcome.kind !== 'response') return outcome.kind;
  if (outcome.status >= 200 && outcome.status < 300) return '2xx';
  return outcome.errorCode ? `${outcome.status}:${outcome.errorCode}` : String(outcome.status);
}

function encodeRequest(host: string, port: number, spec: StreamSpec): Buffer {
  let head = `GET ${spec.path} HTTP/1.1\r\nHost: ${host}:${port}\r\n`;
  for (const [name, value] of Object.entries(spec.headers ?? {})) head += `${name}: ${value}\r\n`;
  return Buffer.from(`${head}\r\n`, 'latin1');
}

/** One execution of a job. */
class Run {
  readonly streams: Stream[];
  /** nowMs() of the start of the warm-up, of the measured window, and of its end. */
  private startAt: number;
  measureFrom: number;
  private endAt: number;

  constructor(readonly job: LoadJob) {
    this.streams = job.streams.map((spec) => new Stream(spec, this, job.host, job.port));
    this.startAt = nowMs() + 20;
    this.measureFrom = this.startAt + job.warmupMs;
    this.endAt = this.measureFrom + job.durationMs;
  }

  progress(): Progress {
    const now = nowMs();
    const total = this.endAt - this.startAt;
    let completed = 0;
    let errors = 0;
    for (const s of this.streams) {
      completed += s.completed;
      errors += s.errors;
    }
    return { label: this.job.label, fraction: Math.min(1, Math.max(0, (now - this.startAt) / total)), completed, errors };
  }

  async execute(): Promise<LoadResult> {
    await Promise.all(this.streams.flatMap((s) => s.conns.map((c) => c.preconnect())));
    if (this.streams.some((s) => s.spec.mode.kind === 'rate')) await metronome();
    // The timeline starts after connecting: restart the clock relative to now.
    const shift = nowMs() + 20 - this.startAt;
    this.startAt += shift;
    this.measureFrom += shift;
    this.endAt += shift;
    // The metronome gets its schedule at once and sleeps precisely until startAt; a setTimeout
    // here would make the first intended sends late by the timer's own lateness.
    const closedLoops = sleepUntil(this.startAt).then(() => {
      for (const s of this.streams) if (s.spec.mode.kind === 'max') this.startClosedLoop(s);
    });
    await Promise.all([closedLoops, this.openLoop()]);
    await this.drain();
    const measuredMs = this.job.durationMs;
    for (const s of this.streams) s.abandonRest();
    for (const s of this.streams) for (const c of s.conns) c.close();
    return {
      label: this.job.label,
      t0Epoch: EPOCH_OFFSET + this.measureFrom,
      measuredMs,
      streams: this.streams.map((s) => s.result(measuredMs)),
    };
  }

  /** Issues the open-loop streams' requests at their intended times until the window ends. */
  private async openLoop(): Promise<void> {
    const rateStreams = this.streams.filter((s) => s.spec.mode.kind === 'rate');
    if (rateStreams.length === 0) return sleepUntil(this.endAt);
    const ticker = await metronome();
    const id = ++scheduleId;
    const tickMs = Math.max(MIN_TICK_MS, Math.min(...rateStreams.map((s) => s.intervalMs)));
    const data: TickerData = { id, startMs: this.startAt, endMs: this.endAt, tickMs };
    await new Promise<void>((resolve, reject) => {
      const onTick = (tick: unknown): void => {
        if (tick !== id) return; // a late tick of an earlier schedule
        const now = nowMs();
        this.issueDue(rateStreams, now);
        if (now >= this.endAt) done();
      };
      const done = (): void => {
        ticker.off('message', onTick);
        ticker.off('error', reject);
        resolve();
      };
      ticker.on('message', onTick);
      ticker.once('error', reject);
      ticker.postMessage(data);
    });
  }

  /** Queues every request whose intended time has come (bounded by maxRequests and the window) and sends what it can. */
  private issueDue(rateStreams: readonly Stream[], now: number): void {
    const limit = Math.min(now, this.endAt);
    for (const s of rateStreams) {
      while (s.issued < s.spec.maxRequests) {
        const intended = this.startAt + s.issued * s.intervalMs;
        if (intended > limit) break;
        s.enqueue(intended);
      }
      s.pump(now);
    }
  }

  private startClosedLoop(s: Stream): void {
    const now = nowMs();
    while (s.idle.length > 0 && s.issued < s.spec.maxRequests) {
      s.issued++;
      s.write(s.idle.pop() as ClientConnection, now, now);
    }
  }

  nextClosedLoop(s: Stream, now: number): void {
    if (now >= this.endAt || s.issued >= s.spec.maxRequests) return;
    s.issued++;
    s.write(s.idle.pop() as ClientConnection, now, now);
  }

  /** Lets queued and in-flight requests finish; aborts the slow ones on the job's timeout. */
  private async drain(): Promise<void> {
    const deadline = nowMs() + Math.min(DRAIN_MS + this.job.timeoutMs, 60_000);
    // Bounded by the deadline.
    while (nowMs() < deadline) {
      let open = 0;
      for (const s of this.streams) open += s.queued + s.inFlight;
      if (open === 0) return;
      await sleep(SWEEP_MS);
    }
  }

  /** Drops requests that exceeded the timeout (a periodic sweep instead of a timer per request). */
  sweep(): void {
    const limit = nowMs() - this.job.timeoutMs;
    for (const s of this.streams) for (const c of s.conns) if (c.busy && c.startedAt < limit) c.abort('timeout');
  }
}

let ticker: Promise<Worker> | undefined;
let scheduleId = 0;

/** The metronome thread, booted on first use and kept for the life of the process. */
function metronome(): Promise<Worker> {
  ticker ??= new Promise((resolve, reject) => {
    const worker = new Worker(new URL('./ticker.mjs', import.meta.url));
    worker.once('message', () => resolve(worker));
    worker.once('error', reject);
    worker.unref(); // never what keeps the process alive
  });
  return ticker;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function sleepUntil(at: number): Promise<void> {
  const wait = at - nowMs();
  if (wait > 0) await sleep(wait);
}

/** Runs a job; `onProgress` is called a few times a second. */
export async function runJob(job: LoadJob, onProgress?: (p: Progress) => void): Promise<LoadResult> {
  const run = new Run(job);
  const sweeper = setInterval(() => {
    run.sweep();
    onProgress?.(run.progress());
  }, SWEEP_MS);
  try {
    return await run.execute();
  } finally {
    clearInterval(sweeper);
  }
}
