/**
 * The upstream simulator's process: one node:http server per endpoint, each with its own
 * behaviour and seed, switchable mid-run over IPC (the breaker scenario takes an upstream down
 * and brings it back), counting what it receives (the "extra upstream load" of retries, hedges
 * and shadows).
 */
import http from 'node:http';
import type net from 'node:net';
import { decide, defaultBody, seededRandom, type Behaviour } from './behaviour.js';
import type { EndpointSpec, EndpointStats, FromSim, ToSim } from './protocol.js';

class Endpoint {
  private readonly server: http.Server;
  private readonly sockets = new Set<net.Socket>();
  private readonly random: () => number;
  private behaviour: Behaviour;
  private body: Buffer;
  private listening = false;
  private active = 0;
  /** Requests waiting for one of `concurrency` slots; bounded by what clients send. */
  private readonly waiting: (() => void)[] = [];
  received = 0;
  shadow = 0;
  extraAttempts = 0;

  constructor(private readonly spec: EndpointSpec) {
    this.random = seededRandom(spec.seed);
    this.behaviour = spec.behaviour;
    this.body = Buffer.from(spec.behaviour.body ?? defaultBody(spec.name));
    this.server = http.createServer({ keepAliveTimeout: 60_000 }, (req, res) => this.onRequest(req, res));
    this.server.headersTimeout = 60_000;
    this.server.on('connection', (s: net.Socket) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
  }

  stats(): EndpointStats {
    return { received: this.received, shadow: this.shadow, extraAttempts: this.extraAttempts, inFlight: this.active + this.waiting.length };
  }

  resetStats(): void {
    this.received = 0;
    this.shadow = 0;
    this.extraAttempts = 0;
  }

  async apply(behaviour: Behaviour): Promise<void> {
    this.behaviour = behaviour;
    this.body = Buffer.from(behaviour.body ?? defaultBody(this.spec.name));
    if (behaviour.refuse && this.listening) await this.stopListening();
    if (!behaviour.refuse && !this.listening) await this.listen();
  }

  listen(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.spec.port, '127.0.0.1', 511, () => {
        this.server.off('error', reject);
        this.listening = true;
        resolve();
      });
    });
  }

  /** "Down": new connections are refused and the open ones dropped, like a crashed process. */
  private stopListening(): Promise<void> {
    return new Promise((resolve) => {
      this.listening = false;
      this.server.close(() => resolve());
      for (const s of this.sockets) s.destroy();
    });
  }

  private onRequest(req: http.IncomingMessage, res: http.ServerResponse): void {
    this.received++;
    if (req.headers['x-outrider-shadow'] !== undefined) this.shadow++;
    const attempt = Number(req.headers['x-outrider-attempt'] ?? '1');
    if (attempt > 1) this.extraAttempts++;
    const action = decide(this.behaviour, this.random);
    // Drain the request body (bench requests are GETs, but be a well-behaved server).
    req.resume();
    const serve = (): void => {
      const done = (): void => this.release();
      if (action.kind === 'reset') {
        after(action.delayMs, () => {
          req.socket.destroy();
          done();
        });
        return;
      }
      after(action.delayMs, () => {
        if (res.destroyed) return done();
        res.writeHead(action.status, { 'content-type': 'application/json', 'content-length': this.body.length });
        res.end(this.body);
        done();
      });
    };
    this.acquire(serve);
  }

  private acquire(serve: () => void): void {
    const limit = this.behaviour.concurrency ?? Infinity;
    if (this.active < limit) {
      this.active++;
      serve();
    } else {
      this.waiting.push(serve);
    }
  }

  private release(): void {
    const next = this.waiting.shift();
    if (next) next();
    else this.active--;
  }
}

/** Immediate when there is no delay: a 0 ms setTimeout still waits for the next timer tick. */
function after(ms: number, fn: () => void): void {
  if (ms <= 0) fn();
  else setTimeout(fn, ms);
}

const endpoints = new Map<string, Endpoint>();

function send(message: FromSim): void {
  process.send?.(message);
}

async function onMessage(m: ToSim): Promise<void> {
  try {
    if (m.type === 'start') {
      for (const spec of m.endpoints) {
        const endpoint = new Endpoint(spec);
        endpoints.set(spec.name, endpoint);
        if (!spec.behaviour.refuse) await endpoint.listen();
      }
      send({ type: 'listening' });
    } else if (m.type === 'set') {
      const endpoint = endpoints.get(m.endpoint);
      if (!endpoint) throw new Error(`no endpoint ${m.endpoint}`);
      await endpoint.apply(m.behaviour);
      send({ type: 'set-done', id: m.id, atEpoch: performance.timeOrigin + performance.now() });
    } else {
      const stats: Record<string, EndpointStats> = {};
      for (const [name, endpoint] of endpoints) {
        stats[name] = endpoint.stats();
        if (m.reset) endpoint.resetStats();
      }
      send({ type: 'stats', id: m.id, stats });
    }
  } catch (err) {
    send({ type: 'error', message: err instanceof Error ? err.message : String(err) });
  }
}

process.on('message', (m: ToSim) => void onMessage(m));
process.on('disconnect', () => process.exit(0));
