/**
 * Hand-built HTTP/2 frames (RFC 9113 §4.1: a 9-byte header, then the payload) for clients that
 * misbehave on purpose, which node:http2's own client will not do: a HEADERS frame followed by
 * endless CONTINUATIONs, thousands of HEADERS+RST_STREAM pairs, SETTINGS and PINGs never
 * acknowledged. Header blocks use HPACK's "literal without indexing, new name" form only
 * (RFC 7541 §6.2.2), so the encoder is a few lines and never touches the dynamic table.
 * `rawH2` opens a plain connection, sends the preface and reads the server's frames back.
 */
import net from 'node:net';
import { H2_PREFACE } from '../../src/http/h2/preface.js';

export const FRAME = { DATA: 0, HEADERS: 1, RST_STREAM: 3, SETTINGS: 4, PING: 6, GOAWAY: 7, WINDOW_UPDATE: 8, CONTINUATION: 9 } as const;
export const FLAG = { END_STREAM: 0x1, ACK: 0x1, END_HEADERS: 0x4 } as const;
export const ERROR = { NO_ERROR: 0, PROTOCOL_ERROR: 1, INTERNAL_ERROR: 2, REFUSED_STREAM: 7, CANCEL: 8, ENHANCE_YOUR_CALM: 11 } as const;

export interface Frame {
  readonly type: number;
  readonly flags: number;
  readonly streamId: number;
  readonly payload: Buffer;
}

export function frame(type: number, flags: number, streamId: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const header = Buffer.alloc(9);
  header.writeUIntBE(payload.length, 0, 3);
  header.writeUInt8(type, 3);
  header.writeUInt8(flags, 4);
  header.writeUInt32BE(streamId & 0x7fffffff, 5);
  return Buffer.concat([header, payload]);
}

/** HPACK integer with an N-bit prefix (RFC 7541 §5.1); the prefix's high bits are zero here. */
function hpackInt(value: number, prefixBits: number): Buffer {
  const max = (1 << prefixBits) - 1;
  if (value < max) return Buffer.from([value]);
  const bytes = [max];
  let rest = value - max;
  while (rest >= 128) {
    bytes.push((rest % 128) + 128);
    rest = Math.floor(rest / 128);
  }
  bytes.push(rest);
  return Buffer.from(bytes);
}

function hpackString(text: string): Buffer {
  const bytes = Buffer.from(text, 'latin1');
  return Buffer.concat([hpackInt(bytes.length, 7), bytes]);
}

/** A header block: every field a literal without indexing with a literal name (first byte 0x00). */
export function hpack(fields: readonly (readonly [string, string])[]): Buffer {
  return Buffer.concat(fields.flatMap(([name, value]) => [Buffer.from([0]), hpackString(name), hpackString(value)]));
}

/** The pseudo-headers of a plain GET. */
export function get(path: string, extra: readonly (readonly [string, string])[] = []): [string, string][] {
  return [[':method', 'GET'], [':scheme', 'http'], [':authority', 'app'], [':path', path], ...extra.map(([n, v]): [string, string] => [n, v])];
}

export function headers(streamId: number, block: Buffer, { endStream = true, endHeaders = true } = {}): Buffer {
  return frame(FRAME.HEADERS, (endStream ? FLAG.END_STREAM : 0) | (endHeaders ? FLAG.END_HEADERS : 0), streamId, block);
}

export function continuation(streamId: number, block: Buffer, endHeaders = false): Buffer {
  return frame(FRAME.CONTINUATION, endHeaders ? FLAG.END_HEADERS : 0, streamId, block);
}

export function rstStream(streamId: number, code: number = ERROR.CANCEL): Buffer {
  const payload = Buffer.alloc(4);
  payload.writeUInt32BE(code);
  return frame(FRAME.RST_STREAM, 0, streamId, payload);
}

/** SETTINGS with [identifier, value] entries (none: an empty SETTINGS, still to be acknowledged). */
export function settings(entries: readonly (readonly [number, number])[] = []): Buffer {
  const payload = Buffer.alloc(6 * entries.length);
  entries.forEach(([id, value], i) => {
    payload.writeUInt16BE(id, i * 6);
    payload.writeUInt32BE(value, i * 6 + 2);
  });
  return frame(FRAME.SETTINGS, 0, 0, payload);
}

export const settingsAck = (): Buffer => frame(FRAME.SETTINGS, FLAG.ACK, 0);

export function ping(n = 0): Buffer {
  const payload = Buffer.alloc(8);
  payload.writeUInt32BE(n, 4);
  return frame(FRAME.PING, 0, 0, payload);
}

/** The error code of a GOAWAY (after the last stream id) or a RST_STREAM frame. */
export function errorCode(f: Frame): number {
  return f.type === FRAME.GOAWAY ? f.payload.readUInt32BE(4) : f.payload.readUInt32BE(0);
}

/** HPACK's static table entries for :status (RFC 7541 Appendix A, indices 8 to 14). */
const STATIC_STATUS: Record<number, number> = { 8: 200, 9: 204, 10: 206, 11: 304, 12: 400, 13: 404, 14: 500 };

/**
 * The :status of a response HEADERS frame (no padding or priority). nghttp2 sends it first: an
 * indexed field for the statuses in the static table, else a literal with the :status name
 * (index 8) whose three digits are raw or Huffman-coded, whichever is shorter. Undefined for
 * anything else: this is no general HPACK decoder.
 */
export function statusOf(f: Frame): number | undefined {
  const first = f.payload[0] ?? 0;
  if ((first & 0x80) !== 0) return STATIC_STATUS[first & 0x7f];
  const nameIndex = (first & 0xc0) === 0x40 ? first & 0x3f : first & 0x0f;
  const length = (f.payload[1] ?? 0) & 0x7f;
  if (nameIndex !== 8) return undefined;
  const value = f.payload.subarray(2, 2 + length);
  const digits = ((f.payload[1] ?? 0) & 0x80) === 0 ? value.toString('latin1') : huffmanDigits(value);
  return /^\d{3}$/.test(digits) ? Number(digits) : undefined;
}

/** RFC 7541 Appendix B for digits only: 0-2 are 5-bit codes 00000-00010, 3-9 are 6-bit codes 011001-011111. */
function huffmanDigits(bytes: Buffer): string {
  const bits = [...bytes].map((b) => b.toString(2).padStart(8, '0')).join('');
  let out = '';
  let at = 0;
  while (bits.length - at >= 5) {
    const five = parseInt(bits.slice(at, at + 5), 2);
    if (five <= 2) {
      out += String(five);
      at += 5;
      continue;
    }
    const six = parseInt(bits.slice(at, at + 6), 2);
    if (six < 25 || six > 31 || bits.length - at < 6) break; // padding (all ones) or not a digit
    out += String(six - 22);
    at += 6;
  }
  return out;
}

/** Splits a byte stream into frames; keeps a partial frame for the next chunk. */
export class FrameReader {
  #pending: Buffer = Buffer.alloc(0);

  push(chunk: Buffer): Frame[] {
    this.#pending = this.#pending.length === 0 ? chunk : Buffer.concat([this.#pending, chunk]);
    const frames: Frame[] = [];
    while (this.#pending.length >= 9) {
      const length = this.#pending.readUIntBE(0, 3);
      if (this.#pending.length < 9 + length) break;
      frames.push({
        type: this.#pending.readUInt8(3),
        flags: this.#pending.readUInt8(4),
        streamId: this.#pending.readUInt32BE(5) & 0x7fffffff,
        payload: this.#pending.subarray(9, 9 + length),
      });
      this.#pending = this.#pending.subarray(9 + length);
    }
    return frames;
  }
}

export interface RawH2 {
  readonly socket: net.Socket;
  /** Every frame the server sent so far (only while reading). */
  readonly frames: Frame[];
  /** Resolves when the server's connection is gone (closed, reset, or a write failed). */
  readonly closed: Promise<void>;
  isClosed(): boolean;
  /** The first GOAWAY seen, if any. */
  goaway(): Frame | undefined;
  /**
   * Write, honouring backpressure: resolves true once the bytes are handed to the kernel, false
   * if the connection is gone first.
   */
  send(bytes: Buffer): Promise<boolean>;
  /** Resolves with the first frame `match` accepts, or undefined once the connection is gone or `limitMs` passed. */
  waitFor(match: (f: Frame) => boolean, limitMs?: number): Promise<Frame | undefined>;
  destroy(): void;
}

/**
 * A plain connection that has sent the preface and an empty SETTINGS. With `read: false` the
 * client never reads (the server's writes back up into the kernel's buffers, as with a client
 * that floods and ignores the answers); `frames` then stays empty.
 */
export async function rawH2(port: number, { read = true, ack = true } = {}): Promise<RawH2> {
  const socket = net.connect(port, '127.0.0.1');
  const frames: Frame[] = [];
  const reader = new FrameReader();
  let watchers: (() => void)[] = [];
  let closed = false;
  const wake = (): void => {
    const now = watchers;
    watchers = [];
    for (const w of now) w();
  };
  const closedP = new Promise<void>((resolve) => {
    const done = (): void => {
      closed = true;
      resolve();
      wake();
    };
    socket.once('close', done);
    socket.once('error', done);
    // The server's FIN: with allowHalfOpen off node ends our side too and 'close' follows.
    socket.once('end', done);
  });
  if (read) {
    socket.on('data', (chunk: Buffer) => {
      const fresh = reader.push(chunk);
      // Acknowledge the server's SETTINGS as any client does: only then are its limits in force
      // (nghttp2 applies local settings once acknowledged).
      if (ack && fresh.some((f) => f.type === FRAME.SETTINGS && (f.flags & FLAG.ACK) === 0)) socket.write(settingsAck());
      frames.push(...fresh);
      wake();
    });
  }
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  socket.write(Buffer.concat([H2_PREFACE, settings()]));
  const raw: RawH2 = {
    socket,
    frames,
    closed: closedP,
    isClosed: () => closed,
    goaway: () => frames.find((f) => f.type === FRAME.GOAWAY),
    send(bytes) {
      if (closed) return Promise.resolve(false);
      return new Promise((resolve) => {
        // A write the server never takes calls back only once the socket is destroyed, if then.
        void closedP.then(() => resolve(false));
        socket.write(bytes, (err) => resolve(!err && !closed));
      });
    },
    waitFor(match, limitMs = 5_000) {
      return new Promise((resolve) => {
        const timer = setTimeout(() => finish(undefined), limitMs);
        const finish = (found: Frame | undefined): void => {
          clearTimeout(timer);
          watchers = watchers.filter((w) => w !== check);
          resolve(found);
        };
        const check = (): void => {
          const found = frames.find(match);
          if (found !== undefined || closed) return finish(found);
          watchers.push(check);
        };
        check();
      });
    },
    destroy: () => socket.destroy(),
  };
  socket.on('error', () => undefined);
  // A reading client waits for the server's SETTINGS (acknowledged above) before sending more.
  if (read) await raw.waitFor((f) => f.type === FRAME.SETTINGS);
  return raw;
}
