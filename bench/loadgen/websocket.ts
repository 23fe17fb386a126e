/**
 * One WebSocket client connection over a raw `net.Socket`, one message in flight: the
 * generator's unit for the websocket scenario, driven exactly like an HTTP connection (open or
 * closed loop, latency from the intended send time).
 *
 * The connection upgrades once (RFC 6455 handshake, `Sec-WebSocket-Accept` checked), then each
 * `send` writes one masked binary frame of `messageBytes` and waits for the echo. The payload
 * carries a per-connection id and a sequence number, so an echo is checked byte for byte
 * against this very message: a stale, truncated or reordered echo is a `mismatch`, never a
 * success. Like the HTTP client, it is raw for the same reason (it shares a core with the
 * upstream): a frame is a pre-built buffer with 8 bytes rewritten per message.
 */
import crypto from 'node:crypto';
import type net from 'node:net';
import { openSocket, type ClientConnection, type OnOutcome } from './connection.js';

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
const HEAD_END = Buffer.from('\r\n\r\n');
const MAX_HEAD_BYTES = 64 * 1024;
/** A close frame from the client (masked, status 1000), written when the bench closes the connection. */
function closeFrame(): Buffer {
  const mask = crypto.randomBytes(4);
  const payload = Buffer.from([0x03, 0xe8]);
  for (let i = 0; i < payload.length; i++) payload[i] = (payload[i] as number) ^ (mask[i % 4] as number);
  return Buffer.concat([Buffer.from([0x88, 0x80 | payload.length]), mask, payload]);
}

let nextId = 1;

export class WsConnection implements ClientConnection {
  private socket: net.Socket | undefined;
  private state: 'none' | 'handshake' | 'open' = 'none';
  private tcpUp: () => boolean = () => false;
  private pending: Buffer | undefined;
  /** A message was due while the upgrade was still under way: written once it completes. */
  private sendOnOpen = false;
  private onOpen: ((ok: boolean) => void) | undefined;
  private readonly key = crypto.randomBytes(16).toString('base64');
  private readonly accept = crypto.createHash('sha1').update(this.key + GUID).digest('base64');
  private readonly handshake: Buffer;
  /** The frame as written: header, mask, masked payload. */
  private readonly frame: Buffer;
  private readonly headerBytes: number;
  private readonly mask: Buffer;
  /** The payload of the message in flight, unmasked: what the echo must be. */
  private readonly expected: Buffer;
  private seq = 0;
  startedAt = 0;
  lastStartedAt = 0;
  intended = 0;
  opened = 0;

  constructor(
    private readonly host: string,
    private readonly port: number,
    path: string,
    messageBytes: number,
    private readonly onOutcome: OnOutcome,
  ) {
    if (!(messageBytes >= 8 && messageBytes <= 65_535)) throw new Error(`websocket: messageBytes ${messageBytes} is not within 8-65535`);
    this.handshake = Buffer.from(
      `GET ${path} HTTP/1.1\r\nHost: ${host}:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        `Sec-WebSocket-Key: ${this.key}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
      'latin1',
    );
    this.expected = Buffer.alloc(messageBytes);
    for (let i = 0; i < messageBytes; i++) this.expected[i] = (i * 31 + 7) & 0xff;
    this.expected.writeUInt32BE(nextId++ >>> 0, 0);
    const header = messageBytes <= 125 ? Buffer.from([0x82, 0x80 | messageBytes]) : Buffer.from([0x82, 0x80 | 126, messageBytes >> 8, messageBytes & 0xff]);
    this.headerBytes = header.length + 4;
    this.mask = crypto.randomBytes(4);
    this.frame = Buffer.concat([header, this.mask, Buffer.alloc(messageBytes)]);
    for (let i = 0; i < messageBytes; i++) this.frame[this.headerBytes + i] = (this.expected[i] as number) ^ (this.mask[i % 4] as number);
  }

  get busy(): boolean {
    return this.startedAt !== 0;
  }

  /** Opens and upgrades ahead of time, so the handshake is not part of the first message's latency. */
  preconnect(): Promise<boolean> {
    return new Promise((resolve) => {
      this.onOpen = resolve;
      this.open();
    });
  }

  send(now: number, intended: number): void {
    this.startedAt = now;
    this.intended = intended;
    this.pending = undefined;
    if (this.state === 'open') return this.writeMessage();
    this.sendOnOpen = true;
    if (this.state === 'none') this.open();
  }

  abort(kind: 'timeout'): void {
    if (!this.busy) return;
    this.destroySocket();
    this.finish({ kind });
  }

  /** Says goodbye with a close frame (so the peers see a clean close, not a reset), then lets go. */
  close(): void {
    const socket = this.socket;
    const wasOpen = this.state === 'open';
    this.socket = undefined;
    this.state = 'none';
    if (!socket) return;
    if (!wasOpen) return void socket.destroy();
    socket.end(closeFrame());
    setTimeout(() => socket.destroy(), 1000).unref();
  }

  private writeMessage(): void {
    // The sequence number in bytes 4-7 makes every message (and so its echo) unique.
    this.seq = (this.seq + 1) >>> 0;
    this.expected.writeUInt32BE(this.seq, 4);
    for (let i = 4; i < 8; i++) this.frame[this.headerBytes + i] = (this.expected[i] as number) ^ (this.mask[i % 4] as number);
    this.socket?.write(this.frame);
  }

  private open(): void {
    const { socket, tcpUp } = openSocket(this.host, this.port, undefined, () => socket.write(this.handshake));
    this.socket = socket;
    this.tcpUp = tcpUp;
    this.state = 'handshake';
    this.pending = undefined;
    this.opened++;
    socket.on('data', (chunk: Buffer) => this.onData(socket, chunk));
    socket.on('error', () => {
      /* reported through 'close' below */
    });
    socket.on('close', () => this.onClose(socket));
  }

  private destroySocket(): void {
    const socket = this.socket;
    this.socket = undefined;
    this.state = 'none';
    socket?.destroy();
  }

  private opening(ok: boolean): void {
    const resolve = this.onOpen;
    this.onOpen = undefined;
    resolve?.(ok);
  }

  private onClose(socket: net.Socket): void {
    if (socket !== this.socket) return; // one we already let go
    const state = this.state;
    this.socket = undefined;
    this.state = 'none';
    this.opening(false);
    this.sendOnOpen = false;
    if (!this.busy) return;
    // No TCP connection at all is a connect failure; a close after it (mid-upgrade too) a reset.
    this.finish({ kind: state === 'handshake' && !this.tcpUp() ? 'connect' : 'reset' });
  }

  private finish(outcome: Parameters<OnOutcome>[1]): void {
    this.lastStartedAt = this.startedAt;
    this.startedAt = 0;
    this.pending = undefined;
    this.onOutcome(this, outcome);
  }

  private onData(socket: net.Socket, chunk: Buffer): void {
    if (socket !== this.socket) return;
    const buf = this.pending === undefined ? chunk : Buffer.concat([this.pending, chunk]);
    this.pending = undefined;
    if (this.state === 'handshake') return this.onHandshake(buf);
    this.onFrame(buf);
  }

  private onHandshake(buf: Buffer): void {
    const end = buf.indexOf(HEAD_END);
    if (end === -1) {
      if (buf.length > MAX_HEAD_BYTES) return this.refuse(0, undefined);
      this.pending = buf;
      return;
    }
    const head = buf.toString('latin1', 0, end);
    const status = Number(head.slice(9, 12));
    const header = (name: string): string | undefined => new RegExp(`\\r\\n${name}:[ \\t]*([^\\r]*)`, 'i').exec(head)?.[1]?.trim();
    if (!head.startsWith('HTTP/1.1 101') || header('sec-websocket-accept') !== this.accept) return this.refuse(status || 0, header('x-outrider-error'));
    this.state = 'open';
    this.opening(true);
    if (end + 4 < buf.length) return this.fail('mismatch'); // a frame nobody asked for
    if (this.sendOnOpen) {
      this.sendOnOpen = false;
      if (this.busy) this.writeMessage();
    }
  }

  /** The upgrade was answered with something else than a valid 101. */
  private refuse(status: number, errorCode: string | undefined): void {
    this.destroySocket();
    this.opening(false);
    this.sendOnOpen = false;
    if (this.busy) this.finish({ kind: 'upgrade', status, errorCode });
  }

  private fail(kind: 'mismatch' | 'parse'): void {
    this.destroySocket();
    if (this.busy) this.finish({ kind });
  }

  /** The echo: one unmasked binary frame whose payload is exactly the message in flight. */
  private onFrame(buf: Buffer): void {
    if (!this.busy) return this.fail('mismatch'); // bytes nobody asked for: out of step
    if (buf.length < 2) {
      this.pending = buf;
      return;
    }
    const first = buf[0] as number;
    const second = buf[1] as number;
    let length = second & 0x7f;
    let offset = 2;
    if (length === 126) {
      if (buf.length < 4) {
        this.pending = buf;
        return;
      }
      length = buf.readUInt16BE(2);
      offset = 4;
    } else if (length === 127) {
      return this.fail('mismatch'); // far beyond any message the bench sends
    }
    if ((second & 0x80) !== 0) return this.fail('parse'); // a server must not mask
    if (buf.length < offset + length) {
      this.pending = buf;
      return;
    }
    if (first === 0x88) return this.fail('parse'); // the server closed: counted as a failure
    if (first !== 0x82 || length !== this.expected.length || offset + length !== buf.length) return this.fail('mismatch');
    if (buf.compare(this.expected, 0, this.expected.length, offset, offset + length) !== 0) return this.fail('mismatch');
    this.finish({ kind: 'response', status: 200, errorCode: undefined });
  }
}
