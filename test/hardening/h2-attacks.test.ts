/**
 * HTTP/2 attacks on a listener (docs/security.md, src/http/h2/server.ts): rapid reset, a
 * CONTINUATION flood, SETTINGS and PING floods from a client that never reads, and header lists
 * past 64 KiB, each sent with hand-built frames (test/helpers/h2-frames.ts) since node's client
 * will not misbehave. The sidecar runs alone in a child process (memorySidecar) so its own memory
 * is measured around each attack; after each one the same process must answer HTTP/2 and
 * HTTP/1.1 on the same port, with nothing left in flight, and the attacking connection must have
 * been ended by the sidecar: a GOAWAY, or the socket closed.
 *
 * What node 20.20 (nghttp2 1.61) does here, as observed:
 * - rapid reset: nghttp2's own reset limiter (a token bucket, burst 1000, 33/s; node 20 has no
 *   streamResetBurst/streamResetRate options to tune it) sends GOAWAY INTERNAL_ERROR after about
 *   1000 resets and ignores later streams; node then stops reading but keeps the socket open, so
 *   the session's idle timeout (keepAliveTimeoutMs, shortened here) is what closes it;
 * - CONTINUATION flood: nghttp2 allows 8 CONTINUATIONs per header block; past that node destroys
 *   the session (GOAWAY INTERNAL_ERROR, socket closed) within a few frames;
 * - SETTINGS and PING floods: nghttp2 queues at most 1000 unsent ACKs; once the client stops
 *   reading and the socket buffers fill, the session is destroyed ("Flooding was detected").
 *   maxOutstandingPings does not take part: it bounds the pings the sidecar sends, not those it
 *   answers (setting it to 1e6 leaves this test passing);
 * - a SETTINGS frame with more than maxSettings (32) entries: GOAWAY ENHANCE_YOUR_CALM;
 * - more than maxConcurrentStreams (100) at once: before the client acknowledges our SETTINGS
 *   the extra streams get RST_STREAM REFUSED_STREAM and the rest are served; after it, nghttp2
 *   ends the whole connection (GOAWAY). maxSessionRejectedStreams never came into play: nghttp2
 *   refuses those streams before node counts them;
 * - header lists: past 64 KiB over several fields, RST_STREAM ENHANCE_YOUR_CALM on that stream
 *   only (the limit holds once the client has acknowledged our SETTINGS; before, the listener's
 *   screen answers 431); a single field past 64 KiB, GOAWAY COMPRESSION_ERROR (nghttp2's HPACK).
 * After nghttp2 itself sends a GOAWAY (reset limiter, COMPRESSION_ERROR, too many SETTINGS
 * entries), node keeps the socket until the session's idle timeout; with the default 65 s such a
 * connection lingers that long, unread.
 */
import t, { type Test } from 'tap';
import { request } from 'undici';
import { guardProcess } from '../helpers/guard.js';
import { holding, until } from '../helpers/held.js';
import { h2Get, http1Get } from '../helpers/h2-client.js';
import { continuation, ERROR, errorCode, FRAME, get, headers, hpack, ping, rawH2, rstStream, settings, settingsAck, statusOf, type RawH2 } from '../helpers/h2-frames.js';
import { memorySidecar } from '../helpers/memory.js';
import { simplePolicy } from '../helpers/sidecar.js';
import { echo, startUpstream } from '../helpers/upstream.js';

const guard = guardProcess();

const MiB = 1024 * 1024;
/** Live memory (after gc) the sidecar may gain during one attack. */
const LIVE_LIMIT = 24 * MiB;
/** The idle timeout that ends a session node has stopped reading from (the default is 65 s). */
const IDLE_MS = 1_000;

// Past node's 16 KiB default, so an oversized header list the sidecar let through would arrive
// (and be counted) instead of being refused by the upstream's own parser.
const up = await startUpstream(undefined, { maxHeaderSize: 1024 * 1024 });
const proxy = await memorySidecar(simplePolicy(up.url), { listenerLimits: { keepAliveTimeoutMs: IDLE_MS } });
const port = Number(new URL(proxy.url).port);
t.teardown(async () => {
  await proxy.close();
  await up.close();
});

/** Send batches of frames until the sidecar ends the connection, or `maxFrames` are sent, or `maxMs` pass. */
async function flood(conn: RawH2, batch: (first: number) => Buffer[], maxFrames: number, maxMs = 5_000): Promise<{ frames: number; bytes: number }> {
  const started = Date.now();
  let frames = 0;
  let bytes = 0;
  while (frames < maxFrames && Date.now() - started < maxMs && !conn.isClosed()) {
    const pieces = batch(frames);
    const chunk = Buffer.concat(pieces);
    if (!(await conn.send(chunk))) break;
    frames += pieces.length;
    bytes += chunk.length;
  }
  return { frames, bytes };
}

/** Resolves true once the sidecar has closed the connection, false after `limitMs`. */
async function closedWithin(conn: RawH2, limitMs: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const bound = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), limitMs)));
  const closed = await Promise.race([conn.closed.then(() => true as const), bound]);
  clearTimeout(timer);
  return closed;
}

/** The same sidecar process still answers both protocols on the port, and nothing is left in flight. */
async function stillServing(t: Test, after: string): Promise<void> {
  const h2 = await h2Get(proxy.url, `/after/${after}`);
  t.equal(h2.status, 200, `${after}: an HTTP/2 request is answered`);
  const h1 = await http1Get(proxy.url, `/after/${after}`);
  t.equal(h1.status, 200, `${after}: an HTTP/1.1 request is answered`);
  await until(async () => {
    const res = await request(`${proxy.adminUrl}/status`);
    const status = (await res.body.json()) as { listeners: { inFlight: number }[] };
    return status.listeners[0]?.inFlight === 0;
  }, `${after}: nothing left in flight`);
}

const mib = (bytes: number): string => (bytes / MiB).toFixed(1);

t.test('rapid reset (CVE-2023-44487): HEADERS then RST_STREAM, 20,000 times', async (t) => {
  const block = hpack(get('/rapid-reset'));
  let conn: RawH2 | undefined;
  let sent = { frames: 0, bytes: 0 };
  const growth = await proxy.measure(async () => {
    conn = await rawH2(port);
    sent = await flood(conn, (first) => Array.from({ length: 100 }, (_, i) => {
      const id = 2 * (first + i) + 1; // client streams: odd, each new one higher
      return Buffer.concat([headers(id, block), rstStream(id)]);
    }), 20_000);
  });
  if (conn === undefined) throw new Error('no connection');
  const streams = sent.frames;
  const goaway = await conn.waitFor((f) => f.type === FRAME.GOAWAY, 3_000);
  t.ok(goaway, `GOAWAY after ${streams} streams opened and reset (code ${goaway === undefined ? '-' : errorCode(goaway)})`);
  const accepted = goaway === undefined ? streams : (goaway.payload.readUInt32BE(0) + 1) / 2;
  t.ok(accepted < streams / 5, `the sidecar stopped taking streams after ${accepted} of ${streams}`);
  t.ok(await closedWithin(conn, IDLE_MS + 3_000), 'the sidecar closed the connection (its idle timeout, once node stopped reading)');
  t.ok(growth.live < LIVE_LIMIT, `live memory grew by ${mib(growth.live)} MiB (limit ${mib(LIVE_LIMIT)})`);
  conn.destroy();
  await stillServing(t, 'rapid-reset');
  // Counted once nothing is in flight. Reset streams are cancelled before they go upstream;
  // before the listener's fix every stream the sidecar took was forwarded and answered (1862 of
  // 20,000), as if its client were still there.
  const forwarded = up.arrivals.filter((a) => a.url === '/rapid-reset').length;
  t.ok(forwarded < streams / 100, `${forwarded} of ${streams} reset streams reached the upstream`);
});

t.test('CONTINUATION flood (CVE-2024-27983 and nghttp2 CVE-2024-28182): a header block that never ends', async (t) => {
  const before = up.arrived;
  let conn: RawH2 | undefined;
  let sent = { frames: 0, bytes: 0 };
  // Small fields, so the frame count and not the header-list size is what runs out first.
  const growth = await proxy.measure(async () => {
    conn = await rawH2(port);
    await conn.send(headers(1, hpack(get('/continuation')), { endHeaders: false }));
    sent = await flood(conn, (first) => Array.from({ length: 16 }, (_, i) => continuation(1, hpack([[`x-c${first + i}`, 'v'.repeat(64)]]))), (10 * MiB) / 90);
  });
  if (conn === undefined) throw new Error('no connection');
  t.ok(await closedWithin(conn, 5_000), `the sidecar closed the connection (${sent.frames} CONTINUATIONs, ${mib(sent.bytes)} MiB written before it noticed)`);
  const goaway = conn.goaway();
  if (goaway !== undefined) t.not(errorCode(goaway), ERROR.NO_ERROR, 'its GOAWAY carries an error');
  t.equal(up.arrived, before, 'the unfinished request never reached the upstream');
  t.ok(growth.live < LIVE_LIMIT, `live memory grew by ${mib(growth.live)} MiB (limit ${mib(LIVE_LIMIT)})`);
  conn.destroy();
  await stillServing(t, 'continuation-flood');
});

t.test('CVE-2024-27983 shape: CONTINUATIONs in progress, then the TCP connection reset, 50 times', async (t) => {
  const block = hpack(get('/half-headers', [['x-pad', 'p'.repeat(200)]]));
  for (let i = 0; i < 50; i++) {
    const conn = await rawH2(port);
    await conn.send(Buffer.concat([headers(1, block.subarray(0, 80), { endHeaders: false }), continuation(1, block.subarray(80, 160))]));
    conn.socket.resetAndDestroy();
    await conn.closed;
  }
  t.pass('50 connections reset while their header blocks were open');
  await stillServing(t, 'reset-mid-headers');
});

for (const kind of ['SETTINGS', 'PING'] as const) {
  t.test(`${kind} flood from a client that never reads the ACKs`, async (t) => {
    let conn: RawH2 | undefined;
    let sent = { frames: 0, bytes: 0 };
    const limit = 2_000_000;
    const growth = await proxy.measure(async () => {
      conn = await rawH2(port, { read: false });
      // INITIAL_WINDOW_SIZE (4) alternating, so each SETTINGS is a real change to apply and ACK.
      const one = (n: number): Buffer => (kind === 'PING' ? ping(n) : settings([[4, 65_535 + (n % 2)]]));
      sent = await flood(conn, (first) => Array.from({ length: 1000 }, (_, i) => one(first + i)), limit);
    });
    if (conn === undefined) throw new Error('no connection');
    t.ok(await closedWithin(conn, 5_000), `the sidecar ended the connection (after ${sent.frames} frames, ${mib(sent.bytes)} MiB)`);
    t.ok(sent.frames < limit, 'before the flood ran its course');
    t.ok(growth.live < LIVE_LIMIT, `live memory grew by ${mib(growth.live)} MiB (limit ${mib(LIVE_LIMIT)})`);
    conn.destroy();
    await stillServing(t, `${kind.toLowerCase()}-flood`);
  });
}

t.test('more streams at once than maxConcurrentStreams (100), against an upstream that holds them', async (t) => {
  const held = holding();
  up.behave(held.behaviour);
  t.teardown(() => {
    held.release();
    up.behave(echo);
  });
  const open = (conn: RawH2, path: string, count: number): Promise<boolean> => {
    const block = hpack(get(path));
    return conn.send(Buffer.concat(Array.from({ length: count }, (_, i) => headers(2 * i + 1, block))));
  };

  // As real clients do, the requests go out before our SETTINGS are acknowledged: nghttp2 holds
  // the client to the limit it was sent and refuses the extra streams one by one.
  const eager = await rawH2(port, { ack: false });
  await open(eager, '/concurrent', 120);
  await until(() => held.count >= 100, 'the upstream to hold 100 requests');
  await eager.send(settingsAck());
  const refused = await eager.waitFor((f) => f.type === FRAME.RST_STREAM && f.streamId === 239);
  const resets = eager.frames.filter((f) => f.type === FRAME.RST_STREAM);
  t.ok(refused, 'the last extra stream is reset');
  t.same(resets.map((f) => f.streamId), Array.from({ length: 20 }, (_, i) => 201 + 2 * i), 'exactly the 20 past the limit are reset');
  t.ok(resets.every((f) => errorCode(f) === ERROR.REFUSED_STREAM), 'with REFUSED_STREAM (safe to retry: never processed)');
  held.release();
  await until(() => eager.frames.filter((f) => f.type === FRAME.HEADERS).length === 100, 'the 100 answers');
  const answers = eager.frames.filter((f) => f.type === FRAME.HEADERS);
  t.equal(answers.length, 100, 'the 100 within the limit are answered');
  t.ok(answers.every((f) => f.streamId < 201 && statusOf(f) === 200), 'each with 200');
  t.notOk(eager.goaway(), 'and the connection goes on');
  t.equal(up.arrivals.filter((a) => a.url === '/concurrent').length, 100, 'the upstream saw only those 100');
  eager.destroy();

  // Past a limit the client has acknowledged, nghttp2 treats the extra stream as a protocol error
  // of the connection (stricter than RFC 9113 §5.1.2's stream error): the whole session goes,
  // and the sidecar cancels its held upstream requests.
  const acked = await rawH2(port);
  await open(acked, '/concurrent-acked', 101);
  const goaway = await acked.waitFor((f) => f.type === FRAME.GOAWAY);
  t.ok(goaway, `after our SETTINGS were acknowledged: GOAWAY (code ${goaway === undefined ? '-' : errorCode(goaway)})`);
  t.ok(await closedWithin(acked, 5_000), 'and the connection is closed');
  await until(() => held.count === 0, 'the upstream to hold nothing');
  const cut = up.arrivals.filter((a) => a.url === '/concurrent-acked');
  t.ok(cut.every((a) => a.closed && a.aborted), `the ${cut.length} of its requests that reached the upstream were cancelled`);
  acked.destroy();
  up.behave(echo);
  await stillServing(t, 'concurrent-streams');
});

t.test('a SETTINGS frame with more entries than maxSettings (32): GOAWAY ENHANCE_YOUR_CALM', async (t) => {
  const conn = await rawH2(port);
  await conn.send(settings(Array.from({ length: 33 }, (_, i): [number, number] => [4, 65_535 + i])));
  const goaway = await conn.waitFor((f) => f.type === FRAME.GOAWAY);
  t.equal(goaway === undefined ? undefined : errorCode(goaway), ERROR.ENHANCE_YOUR_CALM, 'GOAWAY ENHANCE_YOUR_CALM');
  t.ok(await closedWithin(conn, IDLE_MS + 3_000), 'and the connection is closed');
  conn.destroy();
  await stillServing(t, 'settings-entries');
});

/** A header block in a HEADERS frame and as many CONTINUATIONs as it needs (16 KiB frames, the default maximum). */
function headerFrames(streamId: number, block: Buffer): Buffer {
  const parts: Buffer[] = [];
  for (let at = 0; at < block.length; at += 16_384) parts.push(block.subarray(at, at + 16_384));
  return Buffer.concat(parts.map((part, i) => (i === 0 ? headers(streamId, part, { endHeaders: parts.length === 1 }) : continuation(streamId, part, i === parts.length - 1))));
}

const fields = (n: number, size: number): [string, string][] => Array.from({ length: n }, (_, i): [string, string] => [`x-big-${i}`, 'a'.repeat(size)]);

t.test('header lists past 64 KiB', async (t) => {

  // Ten 7,000-byte fields: none is large, together they pass maxHeaderListSize. node refuses the
  // stream before the sidecar sees it; the connection and its other streams go on.
  const conn = await rawH2(port);
  await conn.send(headerFrames(1, hpack(get('/big-list', fields(10, 7_000)))));
  const reset = await conn.waitFor((f) => f.streamId === 1 && (f.type === FRAME.RST_STREAM || f.type === FRAME.HEADERS));
  t.equal(reset?.type, FRAME.RST_STREAM, '70 KB over ten fields: the stream is reset');
  t.equal(reset === undefined ? undefined : errorCode(reset), ERROR.ENHANCE_YOUR_CALM, 'with ENHANCE_YOUR_CALM');
  await conn.send(headers(3, hpack(get('/after-big-list'))));
  const next = await conn.waitFor((f) => f.streamId === 3 && f.type === FRAME.HEADERS);
  t.ok(next, 'the next stream on the same connection is answered');
  t.notOk(conn.goaway(), 'and the connection was not ended');
  conn.destroy();

  // One 70,000-byte field: past HPACK's per-field bound in nghttp2, a connection error.
  const single = await rawH2(port);
  await single.send(headerFrames(1, hpack(get('/big-field', fields(1, 70_000)))));
  const goaway = await single.waitFor((f) => f.type === FRAME.GOAWAY);
  t.equal(goaway === undefined ? undefined : errorCode(goaway), 9, 'one 70 KB field: GOAWAY COMPRESSION_ERROR');
  t.ok(await closedWithin(single, IDLE_MS + 3_000), 'and the connection is closed');
  single.destroy();

  // A client that never acknowledges our SETTINGS is not held to SETTINGS_MAX_HEADER_LIST_SIZE
  // (nghttp2 applies local settings once acknowledged): the listener's own screen refuses it.
  const noAck = await rawH2(port, { ack: false });
  await noAck.send(headerFrames(1, hpack(get('/big-list-no-ack', fields(9, 16_000)))));
  const answer = await noAck.waitFor((f) => f.streamId === 1 && (f.type === FRAME.RST_STREAM || f.type === FRAME.HEADERS));
  t.ok(answer, '144 KB of fields without a SETTINGS ACK: answered');
  t.equal(answer === undefined ? undefined : statusOf(answer), 431, 'with 431');
  noAck.destroy();

  t.same(up.arrivals.filter((a) => a.url.startsWith('/big')), [], 'none of them reached the upstream');
  await stillServing(t, 'big-headers');
});

guard.check(t);
