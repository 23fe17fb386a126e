/**
 * Many plain keep-alive client connections, each able to send one `GET /c` at a time and read
 * its response; and the open-file limits they need. The connections scenario holds 10,000 of
 * them under load; the footprint scenario measures what 10,000 idle ones cost.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';

/** Descriptors beyond the connections: upstream pool, admin, stdio, the runner's own children. */
export const FD_HEADROOM = 512;
export const CONNECT_BATCH = 250;
const REQUEST = Buffer.from('GET /c HTTP/1.1\r\nHost: app\r\n\r\n', 'latin1');

function fileLimit(pid: number): { soft: number; hard: number } | undefined {
  try {
    const line = fs.readFileSync(`/proc/${pid}/limits`, 'utf8').split('\n').find((l) => l.startsWith('Max open files'));
    const [soft, hard] = (line?.trim().split(/\s+/).slice(3, 5) ?? []).map((v) => (v === 'unlimited' ? Infinity : Number(v)));
    return soft !== undefined && hard !== undefined ? { soft, hard } : undefined;
  } catch {
    return undefined;
  }
}

/** Raise `pid`'s RLIMIT_NOFILE towards `want` with prlimit; returns the soft limit in force after. */
export function raiseFileLimit(pid: number, want: number, log: (m: string) => void): number {
  const before = fileLimit(pid);
  if (before === undefined) return Infinity; // not Linux: nothing to read, nothing to do
  if (before.soft >= want) return before.soft;
  const attempts = [`${want}:${Math.max(want, before.hard)}`, `${Math.min(want, before.hard)}:${before.hard}`];
  for (const limits of attempts) {
    try {
      execFileSync('prlimit', ['--pid', String(pid), `--nofile=${limits}`], { stdio: 'ignore' });
      break;
    } catch {
      /* not allowed (the hard limit needs CAP_SYS_RESOURCE) or prlimit missing: try the next */
    }
  }
  const after = fileLimit(pid)?.soft ?? before.soft;
  if (after < want) log(`  note: open-file limit of pid ${pid} is ${after} (wanted ${want}); raise it with ulimit -n or prlimit`);
  return after;
}

export function openFds(pid: number): number | undefined {
  try {
    return fs.readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    return undefined;
  }
}

/** One client connection: writes a request, reads one response (Content-Length or chunked framing). */
export class Connection {
  readonly socket: net.Socket;
  closed = false;
  #buffer = '';
  #pending: { readonly started: number; resolve(r: { ok: boolean; ms: number }): void } | undefined;

  constructor(socket: net.Socket) {
    this.socket = socket;
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.#onData(chunk.toString('latin1')));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      this.closed = true;
      this.#settle(false);
    });
  }

  request(): Promise<{ ok: boolean; ms: number }> {
    if (this.closed || this.#pending !== undefined) return Promise.resolve({ ok: false, ms: 0 });
    return new Promise((resolve) => {
      this.#pending = { started: performance.now(), resolve };
      this.socket.write(REQUEST);
    });
  }

  #onData(text: string): void {
    this.#buffer += text;
    const headEnd = this.#buffer.indexOf('\r\n\r\n');
    if (headEnd === -1) return;
    const head = this.#buffer.slice(0, headEnd);
    const length = /\r\ncontent-length: *(\d+)/i.exec(head);
    const body = this.#buffer.slice(headEnd + 4);
    const complete = length ? body.length >= Number(length[1]) : /(^|\r\n)0\r\n\r\n$/.test(body);
    if (!complete) return;
    this.#buffer = '';
    this.#settle(head.startsWith('HTTP/1.1 200'));
  }

  #settle(ok: boolean): void {
    const pending = this.#pending;
    if (pending === undefined) return;
    this.#pending = undefined;
    pending.resolve({ ok, ms: performance.now() - pending.started });
  }
}

export function connect(port: number): Promise<Connection | undefined> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    const timer = setTimeout(() => {
      socket.destroy();
      resolve(undefined);
    }, 10_000);
    socket.once('connect', () => {
      clearTimeout(timer);
      resolve(new Connection(socket));
    });
    socket.once('error', () => {
      clearTimeout(timer);
      resolve(undefined);
    });
  });
}

