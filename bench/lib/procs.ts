/**
 * Child processes of the bench: started pinned to a core, tracked, and always stopped, even on
 * Ctrl-C or a crash of the runner's own code. Each child gets its own process group so that a
 * stop reaches its workers too (nginx forks a worker) and nothing of ours is left behind.
 */
import { spawn, spawnSync, type ChildProcess, type StdioOptions } from 'node:child_process';
import os from 'node:os';

/** Generator, upstreams and runner on one core; the proxy under test alone on the other. */
export type Role = 'generator' | 'proxy';

export interface Child {
  readonly name: string;
  readonly pid: number;
  readonly proc: ChildProcess;
  /** performance.now() at spawn, for start-to-ready times. */
  readonly spawnedAt: number;
  readonly exited: Promise<number | null>;
  /** The last few KiB of stdout+stderr, for error messages. */
  output(): string;
}

const children = new Set<Child>();
const OUTPUT_KEEP = 8 * 1024;

let pinningCache: boolean | undefined;

/** Pinning needs `taskset` and at least two cores; otherwise everything shares the machine. */
export function pinningAvailable(): boolean {
  if (pinningCache === undefined) {
    pinningCache = os.availableParallelism() >= 2 && spawnSync('taskset', ['-V'], { stdio: 'ignore' }).status === 0;
  }
  return pinningCache;
}

export function coreOf(role: Role): string {
  return role === 'proxy' ? '1' : '0';
}

/** Moves this process (all its threads) to the generator's core so it never competes with the proxy. */
export function pinSelf(): void {
  if (pinningAvailable()) spawnSync('taskset', ['-a', '-p', '-c', coreOf('generator'), String(process.pid)], { stdio: 'ignore' });
}

export interface SpawnOptions {
  readonly role: Role;
  readonly ipc?: boolean;
  readonly env?: NodeJS.ProcessEnv;
  readonly cwd?: string;
  /** Pass the child's output through to the terminal (default: keep a tail for error messages). */
  readonly inherit?: boolean;
}

export function spawnPinned(name: string, command: string, args: readonly string[], options: SpawnOptions): Child {
  const pinned = pinningAvailable();
  const file = pinned ? 'taskset' : command;
  const argv = pinned ? ['-c', coreOf(options.role), command, ...args] : [...args];
  const io = options.inherit ? 'inherit' : 'pipe';
  const stdio: StdioOptions = options.ipc ? ['ignore', io, io, 'ipc'] : ['ignore', io, io];
  const spawnedAt = performance.now();
  // detached: its own process group, so stop() can signal the whole group by its id.
  const proc = spawn(file, argv, { stdio, detached: true, env: options.env ?? process.env, cwd: options.cwd });
  let tail = '';
  const keep = (chunk: Buffer): void => {
    tail = (tail + chunk.toString()).slice(-OUTPUT_KEEP);
  };
  proc.stdout?.on('data', keep);
  proc.stderr?.on('data', keep);
  const exited = new Promise<number | null>((resolve) => {
    proc.once('exit', (code, signal) => resolve(code ?? (signal ? -1 : null)));
    proc.once('error', (err) => {
      keep(Buffer.from(String(err)));
      resolve(-1);
    });
  });
  if (proc.pid === undefined) throw new Error(`could not start ${name}: ${command}`);
  const child: Child = { name, pid: proc.pid, proc, spawnedAt, exited, output: () => tail };
  children.add(child);
  void exited.then(() => children.delete(child));
  return child;
}

function signalGroup(child: Child, signal: NodeJS.Signals): void {
  try {
    process.kill(-child.pid, signal);
  } catch {
    /* already gone */
  }
}

/** SIGTERM to the child's group, SIGKILL if it has not exited within `graceMs`. */
export async function stop(child: Child, graceMs = 3000): Promise<number | null> {
  if (!children.has(child)) return child.exited;
  signalGroup(child, 'SIGTERM');
  const timer = setTimeout(() => signalGroup(child, 'SIGKILL'), graceMs);
  const code = await child.exited;
  clearTimeout(timer);
  return code;
}

export async function stopAll(): Promise<void> {
  await Promise.all([...children].map((c) => stop(c, 2000)));
}

/** Last resort on exit: synchronous, so it also runs from process.on('exit'). */
function killAllNow(): void {
  for (const child of children) signalGroup(child, 'SIGKILL');
}

let installed = false;

/** Stops every child on Ctrl-C, SIGTERM, an uncaught error or a normal exit. */
export function installCleanup(): void {
  if (installed) return;
  installed = true;
  const onSignal = (signal: NodeJS.Signals): void => {
    process.stderr.write(`\nbench: ${signal}, stopping ${children.size} child process(es)\n`);
    void stopAll().finally(() => process.exit(signal === 'SIGINT' ? 130 : 143));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  process.on('exit', killAllNow);
}
