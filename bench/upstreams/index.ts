/**
 * The runner's handle on upstreams: a Node simulator process (behaviours per endpoint) or an
 * nginx `return 200` upstream for the overhead scenario, where the upstream must not be the
 * bottleneck (nginx costs ~10 µs a request; a node:http upstream would cap nginx and HAProxy).
 */
import { bundlePath } from '../lib/build.js';
import { spawnPinned, stop, type Child } from '../lib/procs.js';
import type { Behaviour } from './behaviour.js';
import type { EndpointSpec, EndpointStats, FromSim, ToSim } from './protocol.js';

export class Simulator {
  private nextId = 1;

  private constructor(
    private readonly child: Child,
    readonly endpoints: readonly EndpointSpec[],
  ) {}

  /** Starts the endpoints on the generator's core (the proxy's core stays the proxy's). */
  static async start(endpoints: readonly EndpointSpec[]): Promise<Simulator> {
    const child = spawnPinned('upstream-sim', process.execPath, [bundlePath('sim')], { role: 'generator', ipc: true });
    const sim = new Simulator(child, endpoints);
    await sim.request({ type: 'start', endpoints }, (m) => m.type === 'listening');
    return sim;
  }

  port(name: string): number {
    const spec = this.endpoints.find((e) => e.name === name);
    if (!spec) throw new Error(`no simulated endpoint named ${name}`);
    return spec.port;
  }

  /** Switches an endpoint's behaviour; resolves with the epoch time the switch took effect. */
  async set(endpoint: string, behaviour: Behaviour): Promise<number> {
    const id = this.nextId++;
    const reply = await this.request({ type: 'set', id, endpoint, behaviour }, (m) => m.type === 'set-done' && m.id === id);
    return reply.type === 'set-done' ? reply.atEpoch : 0;
  }

  async stats(reset = false): Promise<Readonly<Record<string, EndpointStats>>> {
    const id = this.nextId++;
    const reply = await this.request({ type: 'stats', id, reset }, (m) => m.type === 'stats' && m.id === id);
    return reply.type === 'stats' ? reply.stats : {};
  }

  close(): Promise<number | null> {
    return stop(this.child, 2000);
  }

  private request(message: ToSim, isReply: (m: FromSim) => boolean): Promise<FromSim> {
    return new Promise((resolve, reject) => {
      const onMessage = (m: FromSim): void => {
        if (m.type === 'error') return done(() => reject(new Error(`upstream simulator: ${m.message}`)));
        if (isReply(m)) done(() => resolve(m));
      };
      const onExit = (): void => done(() => reject(new Error(`upstream simulator exited: ${this.child.output()}`)));
      const done = (settle: () => void): void => {
        this.child.proc.off('message', onMessage);
        this.child.proc.off('exit', onExit);
        settle();
      };
      this.child.proc.on('message', onMessage);
      this.child.proc.once('exit', onExit);
      this.child.proc.send(message);
    });
  }
}
