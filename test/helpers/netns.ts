/**
 * Network-namespace rehearsals (test/k8s/pod-netns.test.ts, test/capture/netns.test.ts): the
 * `ip` command, a check that namespaces may be made here (root and iproute2, as CI has), the
 * removal of namespaces a killed earlier run left, and Peer: a process in a namespace that
 * speaks JSON lines (events on stdout and stderr, commands on stdin). Tests wait on events,
 * each wait bounded by WAIT_MS, never on sleeps.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';

/* eslint-disable @typescript-eslint/no-explicit-any -- events are free-form JSON */
export type Event = Record<string, any>;

export const WAIT_MS = 20_000;

export function ip(...args: string[]): { ok: boolean; out: string } {
  const r = spawnSync('ip', args, { encoding: 'utf8', timeout: 10_000 });
  return { ok: r.status === 0, out: `${r.stdout ?? ''}${r.stderr ?? ''}${r.error?.message ?? ''}`.trim() };
}

/**
 * Namespaces named `<letter><pid>-…` by an earlier run whose process is gone: removed. `stale`
 * matches a name and captures the pid as group 1; a live pid (a test running beside this one)
 * keeps its namespaces.
 */
export function removeStale(stale: RegExp): void {
  for (const line of ip('netns', 'list').out.split('\n')) {
    const m = stale.exec(line);
    if (m === null || Number(m[1]) === process.pid) continue;
    try {
      process.kill(Number(m[1]), 0);
    } catch {
      ip('netns', 'del', (line.split(' ')[0] ?? '').trim());
    }
  }
}

/** Why this machine cannot run a rehearsal, or false when it can (then `first` has been made). */
export function cannotRun(first: string, stale: RegExp): string | false {
  if (process.getuid?.() !== 0) return 'needs root for ip netns (CI runs as root)';
  const version = ip('-V');
  if (!version.ok) return `no ip command (apt-get install -y iproute2): ${version.out}`;
  removeStale(stale);
  const added = ip('netns', 'add', first);
  if (!added.ok) return `ip netns add is not permitted here: ${added.out}`;
  return false;
}

/**
 * Why `uid` cannot read `files`, or false when it can. The rehearsals run Outrider and the apps
 * as the pod's non-root users; a checkout below a directory only its owner may enter (what
 * `mktemp -d` makes, or /root) is unreadable to them, and node would fail later with a module
 * it cannot find.
 */
export function unreadableAs(uid: number, files: readonly string[]): string | false {
  const check = `for (const f of ${JSON.stringify(files)}) require('fs').accessSync(f, require('fs').constants.R_OK)`;
  const run = spawnSync('setpriv', [`--reuid=${uid}`, `--regid=${uid}`, '--clear-groups', process.execPath, '-e', check], { encoding: 'utf8', timeout: 30_000 });
  if (run.status === 0) return false;
  const why = (run.stderr || run.error?.message || '').trim().split('\n').find((l) => l.startsWith('Error')) ?? `exit ${run.status}`;
  return `uid ${uid} cannot read the checkout (${why}): clone it where other users may enter every parent directory (not in mktemp -d's or /root's 0700 directories)`;
}

/** Run every `ip` step in order; the first that fails is returned as a message. */
export function wire(steps: readonly string[][]): string | undefined {
  for (const step of steps) {
    const r = ip(...step);
    if (!r.ok) return `ip ${step.join(' ')}: ${r.out}`;
  }
  return undefined;
}

/** A process in a namespace that speaks JSON lines on stdout and stderr (events) and stdin (commands). */
export class Peer {
  readonly child: ChildProcess;
  readonly events: Event[] = [];
  readonly exited: Promise<number | null>;
  stderr = '';
  #waiters: { match: (e: Event) => boolean; resolve: (e: Event) => void }[] = [];
  #nextId = 0;

  constructor(
    readonly name: string,
    ns: string,
    argv: string[],
    env: Record<string, string>,
  ) {
    // env -i: exactly this environment (not the test runner's, which instruments child
    // processes); ip netns exec, env and setpriv each exec the next, so the pid is node's.
    const vars = Object.entries(env).map(([k, v]) => `${k}=${v}`);
    this.child = spawn('ip', ['netns', 'exec', ns, 'env', '-i', ...vars, ...argv], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.child.stdout?.on('data', this.#lines());
    const stderrLines = this.#lines();
    this.child.stderr?.on('data', (chunk: Buffer) => {
      this.stderr = (this.stderr + chunk.toString()).slice(-4000);
      stderrLines(chunk);
    });
    this.child.stdin?.on('error', () => undefined);
    this.exited = new Promise((resolve) => this.child.on('exit', (code) => resolve(code)));
  }

  #lines(): (chunk: Buffer) => void {
    let buffered = '';
    return (chunk) => {
      buffered += chunk.toString();
      for (let nl = buffered.indexOf('\n'); nl >= 0; nl = buffered.indexOf('\n')) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        let event: Event;
        try {
          event = JSON.parse(line) as Event;
        } catch {
          continue; // not an event
        }
        if (typeof event !== 'object' || event === null) continue;
        this.events.push(event);
        for (const w of this.#waiters.filter((w) => w.match(event))) {
          this.#waiters.splice(this.#waiters.indexOf(w), 1);
          w.resolve(event);
        }
      }
    };
  }

  /** The first event (already seen or to come) that matches; fails after WAIT_MS. */
  next(match: (e: Event) => boolean, what: string): Promise<Event> {
    const seen = this.events.find(match);
    if (seen !== undefined) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${this.name}: no ${what} within ${WAIT_MS} ms; stderr: ${this.stderr}`)), WAIT_MS);
      this.#waiters.push({ match, resolve: (e) => (clearTimeout(timer), resolve(e)) });
    });
  }

  send(command: Event): void {
    this.child.stdin?.write(`${JSON.stringify(command)}\n`);
  }

  /** A command answered by an event with the same id. */
  ask(command: Event, what: string): Promise<Event> {
    const id = ++this.#nextId;
    this.send({ ...command, id });
    return this.next((e) => e.id === id, what);
  }

  /** For a client peer: one GET, answered as {status, headers, body} or {error}. */
  get(url: string): Promise<Event> {
    return this.ask({ url }, `an answer to GET ${url}`);
  }

  async stop(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      this.child.kill('SIGKILL');
      await this.exited;
    }
  }
}
