/**
 * tls: what terminating TLS costs, Outrider against nginx with the same certificate
 * (test/fixtures/tls/server.crt, RSA 2048, for localhost and 127.0.0.1). Each proxy serves a
 * plain listener and a TLS listener from one process, both to the same HTTP upstream (nginx
 * `return 200` when installed, as in overhead), so the TLS figures are paired with plain HTTP
 * through the very same proxy, in the same pass.
 *
 * Load: the bench's generator over keep-alive connections (50), speaking TLS 1.3 and
 * verifying the certificate against the fixtures' CA for "localhost" (a handshake that fails
 * verification is a `tls` failure), open loop at fixed rates for latency, closed loop for
 * max throughput. Beside it, when installed, wrk (C, OpenSSL; TLS 1.2 as Debian's build
 * negotiates it; no verification) for max throughput over https://, which is what the ratio
 * to nginx uses since a Node client can be the limit there; and wrk with `Connection: close`
 * for new TLS connections per second (wrk resumes sessions, so these are mostly abbreviated
 * handshakes: the cost of clients that reconnect, not of first contact).
 *
 * Before measuring, a probe checks the certificate each TLS listener serves: verified against
 * the CA for localhost, the fixture's own (by fingerprint), refused by a client that trusts
 * another CA, and whether a second connection resumes the session.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import tls from 'node:tls';
import { spectrum, mergeEncoded } from '../loadgen/histogram.js';
import type { StreamResult, TlsSpec } from '../loadgen/protocol.js';
import { REPO_DIR } from '../lib/build.js';
import { outriderBuilt, startOutrider } from '../lib/outrider.js';
import { freePorts } from '../lib/ports.js';
import { CONNECTIONS, type ProfileName } from '../lib/profile.js';
import { fmt, round, signed } from '../lib/stats.js';
import { wrkInstalled, wrkRun, type WrkResult } from '../lib/wrk.js';
import { startNginxTlsProxy } from '../peers/nginx.js';
import type { Started } from '../peers/target.js';
import { startUpstream } from './overhead.js';
import { directTarget, failuresOf, find, measuredSample, median, medianOf, okOf, pairedDiffs, pairedRatios, rotate, warmUpEach, type Running, type Sample } from './paired.js';
import { guardFailures } from './pattern.js';
import type { Chart, Check, Scenario, ScenarioContext, Table } from './types.js';

const FIXTURES = path.join(REPO_DIR, 'test', 'fixtures', 'tls');
const CERT = path.join(FIXTURES, 'server.crt');
const KEY = path.join(FIXTURES, 'server.key');
const CA = path.join(FIXTURES, 'ca.crt');
const OTHER_CA = path.join(FIXTURES, 'other-ca.crt');
const SERVERNAME = 'localhost';

/** Fixed rates per profile; --smoke measures only these (what it asserts is functional). */
const RATES: Readonly<Record<ProfileName, readonly number[]>> = { smoke: [1000], quick: [1000, 5000], full: [1000, 5000] };
/** Targets (issue 13). */
const TLS_THROUGHPUT_RATIO = 0.3;
const TLS_P99_FACTOR = 2;
const TLS_P99_FLOOR_MS = 0.3;
const NEW_CONNECTIONS_RATIO = 0.3;

interface Target {
  /** direct, outrider, outrider-tls, nginx, nginx-tls. */
  readonly name: string;
  /** The process behind it: outrider and outrider-tls are one process, as are the nginx pair. */
  readonly proxy: string;
  readonly tls: boolean;
  readonly run: Running;
}

interface WrkSample {
  readonly target: string;
  readonly pass: number;
  readonly kind: 'keep-alive' | 'new-connections';
  readonly result: WrkResult | undefined;
}

interface Probe {
  readonly authorized: boolean;
  readonly authorizationError: string | undefined;
  /** The certificate served is the fixture's (SHA-256 fingerprints match). */
  readonly fixtureCertificate: boolean;
  readonly protocol: string | undefined;
  readonly cipher: string | undefined;
  /** A client that trusts another CA was refused (verification is real). */
  readonly otherCaRefused: boolean;
  readonly sessionResumed: boolean;
  readonly error?: string;
}

function outriderPolicy(adminPort: number, plainPort: number, tlsPort: number, upstreamPort: number): string {
  return `version: 1
admin: { address: 127.0.0.1:${adminPort} }
accessLog: off
listeners:
  - { name: plain, address: 127.0.0.1:${plainPort} }
  - { name: tls, address: 127.0.0.1:${tlsPort}, tls: { cert: "${CERT}", key: "${KEY}" } }
upstreams: { app: { endpoints: [ "http://127.0.0.1:${upstreamPort}" ], connections: 64 } }
routes: [ { name: all, match: { pathPrefix: / }, upstream: app } ]
`;
}

async function startOutriderPair(plainPort: number, tlsPort: number, adminPort: number, upstreamPort: number, cpuProfDir: string | undefined): Promise<Started> {
  const started = await startOutrider('outrider-tls', outriderPolicy(adminPort, plainPort, tlsPort, upstreamPort), adminPort, { cpuProfDir });
  if (!started.ok) return started;
  return { ok: true, port: plainPort, pid: started.pid, readyMs: started.readyMs, stop: () => started.stop().then(() => undefined), died: () => started.died() };
}

/** One TLS connection and one request; resolves with what the handshake said. */
function handshake(port: number, ca: string, session?: Buffer): Promise<{ socket: tls.TLSSocket; session: Promise<Buffer | undefined> } | { error: string }> {
  return new Promise((resolve) => {
    const socket = tls.connect({ host: '127.0.0.1', port, ca, servername: SERVERNAME, rejectUnauthorized: true, ...(session ? { session } : {}) });
    // TLS 1.3 tickets arrive after the handshake, with the first bytes from the server.
    const ticket = new Promise<Buffer | undefined>((r) => {
      socket.once('session', (s: Buffer) => r(s));
      socket.once('close', () => r(undefined));
    });
    const timer = setTimeout(() => {
      socket.destroy();
      resolve({ error: 'timeout' });
    }, 5000);
    socket.once('secureConnect', () => {
      clearTimeout(timer);
      socket.write('GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n');
      socket.resume();
      resolve({ socket, session: ticket });
    });
    socket.once('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      resolve({ error: err.code ?? err.message });
    });
  });
}

async function probe(port: number): Promise<Probe> {
  const ca = fs.readFileSync(CA, 'utf8');
  const expected = new crypto.X509Certificate(fs.readFileSync(CERT)).fingerprint256;
  const first = await handshake(port, ca);
  if ('error' in first) {
    return { authorized: false, authorizationError: first.error, fixtureCertificate: false, protocol: undefined, cipher: undefined, otherCaRefused: false, sessionResumed: false, error: first.error };
  }
  const served = first.socket.getPeerCertificate();
  const result = {
    authorized: first.socket.authorized,
    authorizationError: first.socket.authorizationError?.message,
    fixtureCertificate: served.fingerprint256 === expected,
    protocol: first.socket.getProtocol() ?? undefined,
    cipher: first.socket.getCipher()?.name,
  };
  const session = await first.session;
  first.socket.destroy();
  const other = await handshake(port, fs.readFileSync(OTHER_CA, 'utf8'));
  if (!('error' in other)) other.socket.destroy();
  let sessionResumed = false;
  if (session) {
    const again = await handshake(port, ca, session);
    if (!('error' in again)) {
      sessionResumed = again.socket.isSessionReused();
      again.socket.destroy();
    }
  }
  return { ...result, otherCaRefused: 'error' in other, sessionResumed };
}

async function measure(ctx: ScenarioContext, target: Target, pass: number, mode: number | 'max', tlsSpec: TlsSpec): Promise<Sample> {
  const { profile } = ctx;
  const rateMode = mode === 'max' ? ({ kind: 'max' } as const) : ({ kind: 'rate', rps: mode } as const);
  return measuredSample(target, pass, mode, profile, () =>
    ctx.loadgen.run({
      label: `tls ${target.name} ${mode === 'max' ? 'max' : `${mode}/s`}`,
      host: '127.0.0.1',
      port: target.run.port,
      warmupMs: profile.warmupMs,
      durationMs: profile.durationMs,
      timeoutMs: 10_000,
      ...(target.tls ? { tls: tlsSpec } : {}),
      streams: [{ name: target.name, path: '/', mode: rateMode, connections: CONNECTIONS, maxRequests: mode === 'max' ? 5_000_000 : Math.ceil((mode * (profile.warmupMs + profile.durationMs + 1000)) / 1000) }],
    }),
  );
}

function warmUp(ctx: ScenarioContext, targets: readonly Target[], tlsSpec: TlsSpec): Promise<void> {
  return warmUpEach(ctx, targets, (target) => ({
    ...(target.tls ? { tls: tlsSpec } : {}),
    streams: [{ name: 'warm-up', path: '/', mode: { kind: 'max' }, connections: CONNECTIONS, maxRequests: 5_000_000 }],
  }));
}

const url = (t: Target): string => `${t.tls ? 'https' : 'http'}://127.0.0.1:${t.run.port}/`;

async function runPasses(ctx: ScenarioContext, targets: readonly Target[], rates: readonly number[], tlsSpec: TlsSpec, dead: Map<string, string>): Promise<{ samples: Sample[]; wrk: WrkSample[] }> {
  const { profile } = ctx;
  const smoke = profile.name === 'smoke';
  const useWrk = wrkInstalled() && !smoke;
  const wrkMs = Math.max(1000, profile.durationMs / 2);
  const samples: Sample[] = [];
  const wrk: WrkSample[] = [];
  const alive = (t: Target): boolean => !dead.has(t.proxy);
  const noteDeath = (t: Target): void => {
    const died = t.run.died();
    if (died && !dead.has(t.proxy)) {
      dead.set(t.proxy, died);
      ctx.log(`  ${died}`);
    }
  };
  for (let pass = 0; pass < profile.passes; pass++) {
    ctx.log(`  pass ${pass + 1}/${profile.passes}`);
    // --smoke asserts what Outrider does, not how fast: the fixed rate is enough for that.
    for (const mode of smoke ? [...rates] : [...rates, 'max' as const]) {
      for (const target of rotate(targets, pass)) {
        if (!alive(target)) continue;
        samples.push(await measure(ctx, target, pass, mode, tlsSpec));
        noteDeath(target);
      }
    }
    if (!useWrk) continue;
    for (const target of rotate(targets, pass)) {
      if (target.name === 'direct' || !alive(target)) continue;
      wrk.push({ target: target.name, pass, kind: 'keep-alive', result: await wrkRun(url(target), wrkMs) });
      if (target.tls) wrk.push({ target: target.name, pass, kind: 'new-connections', result: await wrkRun(url(target), wrkMs, ['-H', 'Connection: close']) });
      noteDeath(target);
    }
  }
  return { samples, wrk };
}

const p50 = (s: Sample): number => s.stream.latency.p50;
const p99 = (s: Sample): number => s.stream.latency.p99;
const rps = (s: Sample): number => s.stream.achievedRps;

/** The plain target through the same proxy: outrider-tls → outrider, nginx-tls → nginx. */
const plainOf = (name: string): string => name.replace(/-tls$/, '');

function wrkFigures(wrk: readonly WrkSample[], target: string, kind: WrkSample['kind']): number[] {
  return wrk.filter((w) => w.target === target && w.kind === kind && w.result).map((w) => (w.result as WrkResult).rps);
}

/** a ÷ b of wrk's figures within each pass. */
function wrkRatios(wrk: readonly WrkSample[], a: string, b: string, kind: WrkSample['kind']): number[] {
  return wrk.flatMap((w) => {
    if (w.target !== a || w.kind !== kind || !w.result) return [];
    const other = wrk.find((o) => o.target === b && o.kind === kind && o.pass === w.pass)?.result;
    return other && other.rps > 0 ? [w.result.rps / other.rps] : [];
  });
}

interface Summary {
  readonly target: string;
  readonly rates: Record<string, { p50: number; p99: number; addedP50: number; addedP99: number; tlsP50: number; tlsP99: number }>;
  readonly maxRps: number;
  readonly wrkRps: number;
  readonly newConnectionsPerSecond: number;
  readonly cpuSecondsPer10kAtMax: number;
  readonly answered: number;
  readonly failed: number;
  readonly failures: string;
  readonly wrkErrors: number;
}

function summarize(samples: readonly Sample[], wrk: readonly WrkSample[], rates: readonly number[], target: Target): Summary {
  const mine = samples.filter((s) => s.target === target.name);
  const perRate: Summary['rates'] = {};
  for (const rate of rates) {
    perRate[String(rate)] = {
      p50: round(medianOf(find(samples, target.name, rate), p50), 3),
      p99: round(medianOf(find(samples, target.name, rate), p99), 3),
      addedP50: round(median(pairedDiffs(samples, target.name, 'direct', rate, p50)), 3),
      addedP99: round(median(pairedDiffs(samples, target.name, 'direct', rate, p99)), 3),
      tlsP50: target.tls ? round(median(pairedDiffs(samples, target.name, plainOf(target.name), rate, p50)), 3) : NaN,
      tlsP99: target.tls ? round(median(pairedDiffs(samples, target.name, plainOf(target.name), rate, p99)), 3) : NaN,
    };
  }
  const failures = failuresOf(mine);
  return {
    target: target.name,
    rates: perRate,
    maxRps: round(medianOf(find(samples, target.name, 'max'), rps), 0),
    wrkRps: round(median(wrkFigures(wrk, target.name, 'keep-alive')), 0),
    newConnectionsPerSecond: round(median(wrkFigures(wrk, target.name, 'new-connections')), 0),
    cpuSecondsPer10kAtMax: round(medianOf(find(samples, target.name, 'max'), (s) => s.cpuSecondsPer10k), 3),
    answered: okOf(mine),
    failed: failures.count,
    failures: failures.text,
    wrkErrors: wrk.filter((w) => w.target === target.name && w.result).reduce((n, w) => n + (w.result as WrkResult).non2xx + (w.result as WrkResult).socketErrors, 0),
  };
}

interface Ratios {
  /** Outrider ÷ nginx, TLS, max throughput: wrk's when measured, else the generator's. */
  readonly tls: number;
  readonly tlsBy: 'wrk' | 'generator';
  readonly plain: number;
  readonly newConnections: number;
  /** TLS ÷ plain through the same proxy (what TLS costs in throughput). */
  readonly outriderTlsOverPlain: number;
  readonly nginxTlsOverPlain: number;
}

function ratios(samples: readonly Sample[], wrk: readonly WrkSample[]): Ratios {
  const byWrk = wrkRatios(wrk, 'outrider-tls', 'nginx-tls', 'keep-alive');
  const pick = (a: string, b: string): number => {
    const w = wrkRatios(wrk, a, b, 'keep-alive');
    return round(median(w.length > 0 ? w : pairedRatios(samples, a, b, 'max', rps)), 4);
  };
  return {
    tls: pick('outrider-tls', 'nginx-tls'),
    tlsBy: byWrk.length > 0 ? 'wrk' : 'generator',
    plain: pick('outrider', 'nginx'),
    newConnections: round(median(wrkRatios(wrk, 'outrider-tls', 'nginx-tls', 'new-connections')), 4),
    outriderTlsOverPlain: pick('outrider-tls', 'outrider'),
    nginxTlsOverPlain: pick('nginx-tls', 'nginx'),
  };
}

function latencyTable(rates: readonly number[], summaries: readonly Summary[]): Table {
  const columns = ['target'];
  for (const rate of rates) columns.push(`${rate}/s p50`, 'p99', '+p50', '+p99', 'TLS +p50', 'TLS +p99');
  return {
    title: 'Latency at fixed rates over keep-alive connections (ms; "+" = added over direct, "TLS +" = added over plain HTTP through the same proxy; paired per pass, median of passes)',
    columns,
    rows: summaries.map((s) => {
      const row = [s.target];
      for (const rate of rates) {
        const r = s.rates[String(rate)];
        const tlsRow = s.target.endsWith('-tls');
        row.push(fmt(r?.p50), fmt(r?.p99), s.target === 'direct' ? '' : signed(r?.addedP50), s.target === 'direct' ? '' : signed(r?.addedP99), tlsRow ? signed(r?.tlsP50) : '', tlsRow ? signed(r?.tlsP99) : '');
      }
      return row;
    }),
    note: 'Open loop, corrected for coordinated omission. The generator speaks TLS 1.3 and verifies the certificate (CA of test/fixtures/tls, name localhost).',
  };
}

function throughputTable(summaries: readonly Summary[], r: Ratios, useWrk: boolean): Table {
  return {
    title: 'Max throughput on one core (medians of passes)',
    columns: ['target', 'req/s (generator)', ...(useWrk ? ['req/s (wrk)', 'new TLS conn/s (wrk)'] : []), 'CPU s/10k @max', 'answered', 'failed', ...(useWrk ? ['wrk errors'] : [])],
    rows: summaries.map((s) => [
      s.target,
      fmt(s.maxRps, 0),
      ...(useWrk ? [s.target === 'direct' ? '' : fmt(s.wrkRps, 0), s.target.endsWith('-tls') ? fmt(s.newConnectionsPerSecond, 0) : ''] : []),
      fmt(s.cpuSecondsPer10kAtMax, 3),
      String(s.answered),
      s.failures === '' ? '0' : `${s.failed} (${s.failures})`,
      ...(useWrk ? [s.target === 'direct' ? '' : String(s.wrkErrors)] : []),
    ]),
    note:
      `Outrider ÷ nginx (paired per pass, ${r.tlsBy === 'wrk' ? "wrk's figures" : "the generator's figures"}): TLS ${fmt(r.tls)}, plain ${fmt(r.plain)}` +
      (useWrk ? `, new TLS connections ${fmt(r.newConnections)}` : '') +
      `. TLS ÷ plain through the same proxy: Outrider ${fmt(r.outriderTlsOverPlain)}, nginx ${fmt(r.nginxTlsOverPlain)}.` +
      (useWrk ? ' New connections: wrk with Connection: close; wrk resumes TLS sessions, so most are abbreviated handshakes.' : ''),
  };
}

function perPassTable(samples: readonly Sample[], wrk: readonly WrkSample[], rates: readonly number[], passes: number): Table {
  const columns = ['pass'];
  for (const rate of rates) columns.push(`${rate}/s Outrider TLS +p50`, '+p99', 'nginx TLS +p50', '+p99');
  columns.push('TLS req/s Outrider', 'nginx', 'Outrider ÷ nginx', 'new conn/s Outrider', 'nginx', 'ratio');
  const useWrk = wrk.some((w) => w.result);
  const row = (label: string, pick: (values: number[]) => number | undefined, pass?: number): string[] => {
    const only = pass === undefined ? samples : samples.filter((s) => s.pass === pass);
    const onlyWrk = pass === undefined ? wrk : wrk.filter((w) => w.pass === pass);
    const cells = [label];
    for (const rate of rates) {
      for (const target of ['outrider-tls', 'nginx-tls']) {
        cells.push(signed(pick(pairedDiffs(only, target, plainOf(target), rate, p50))), signed(pick(pairedDiffs(only, target, plainOf(target), rate, p99))));
      }
    }
    const tput = (target: string): number[] => (useWrk ? wrkFigures(onlyWrk, target, 'keep-alive') : find(only, target, 'max').map(rps));
    cells.push(fmt(pick(tput('outrider-tls')), 0), fmt(pick(tput('nginx-tls')), 0));
    cells.push(fmt(pick(useWrk ? wrkRatios(onlyWrk, 'outrider-tls', 'nginx-tls', 'keep-alive') : pairedRatios(only, 'outrider-tls', 'nginx-tls', 'max', rps))));
    cells.push(fmt(pick(wrkFigures(onlyWrk, 'outrider-tls', 'new-connections')), 0), fmt(pick(wrkFigures(onlyWrk, 'nginx-tls', 'new-connections')), 0));
    cells.push(fmt(pick(wrkRatios(onlyWrk, 'outrider-tls', 'nginx-tls', 'new-connections'))));
    return cells;
  };
  const rows = Array.from({ length: passes }, (_, pass) => row(String(pass + 1), (v) => v[0], pass));
  if (passes > 1) rows.push(row('median', (v) => median(v)));
  return {
    title: `Per pass (ms TLS adds over plain through the same proxy; TLS throughput${useWrk ? ' by wrk' : ' by the generator'})`,
    columns,
    rows,
  };
}


function charts(samples: readonly Sample[], rates: readonly number[], summaries: readonly Summary[]): Chart[] {
  const rate = rates[rates.length - 1] as number;
  return [
    {
      kind: 'spectrum',
      title: `Latency percentile spectrum at ${rate} req/s, plain and TLS (all passes merged)`,
      series: summaries.map((s) => ({ label: s.target, points: spectrum(mergeEncoded(find(samples, s.target, rate).map((x) => x.stream.histogram))) })),
    },
    {
      kind: 'bars',
      title: 'Max throughput, plain and TLS (req/s, median of passes)',
      unit: 'req/s',
      labels: summaries.map((s) => s.target),
      series: [
        { label: 'our generator', values: summaries.map((s) => (Number.isFinite(s.maxRps) ? s.maxRps : null)) },
        ...(summaries.some((s) => Number.isFinite(s.wrkRps)) ? [{ label: 'wrk', values: summaries.map((s) => (Number.isFinite(s.wrkRps) ? s.wrkRps : null)) }] : []),
      ],
    },
  ];
}

function checks(
  summaries: readonly Summary[],
  r: Ratios,
  rates: readonly number[],
  probes: ReadonlyMap<string, Probe>,
  missing: ReadonlyMap<string, string>,
  dead: ReadonlyMap<string, string>,
  outriderStreams: readonly StreamResult[],
): Check[] {
  const o = summaries.find((s) => s.target === 'outrider');
  const ot = summaries.find((s) => s.target === 'outrider-tls');
  const nt = summaries.find((s) => s.target === 'nginx-tls');
  const crash = dead.get('outrider');
  const why = missing.get('outrider') ?? 'not measured';
  const nginxWhy = `nginx: ${missing.get('nginx') ?? 'not measured'}`;
  const p = probes.get('outrider');
  const served: Check = {
    name: 'Outrider answered every request on its TLS and plain listeners, and stayed up',
    target: 'started, > 0 answered over TLS, 0 failed (TLS handshakes included), no crash',
    value: !o || !ot ? `did not start: ${why}` : crash ? `crashed: ${crash.slice(0, 200)}` : `TLS ${ot.answered} answered, ${ot.failed} failed${ot.failures ? ` (${ot.failures})` : ''}; plain ${o.answered} answered, ${o.failed} failed${o.failures ? ` (${o.failures})` : ''}`,
    pass: o !== undefined && ot !== undefined && !crash && ot.answered > 0 && ot.failed === 0 && o.failed === 0,
    source: 'ours',
    issue: 13,
    functional: true,
  };
  const certificate: Check = {
    name: "Outrider's TLS listener serves the configured certificate, verified against the CA for localhost",
    target: 'verified, the fixture\'s certificate (fingerprint), refused by a client trusting another CA',
    value: !p
      ? `not probed: ${why}`
      : p.error
        ? `handshake failed: ${p.error}`
        : `${p.authorized ? 'verified' : `not verified (${p.authorizationError ?? '?'})`}, ${p.fixtureCertificate ? 'the fixture\'s certificate' : 'another certificate'}, another CA ${p.otherCaRefused ? 'refused' : 'accepted'}; ${p.protocol ?? '?'} ${p.cipher ?? ''}, session ${p.sessionResumed ? 'resumed' : 'not resumed'} on reconnect`,
    pass: p !== undefined && !p.error && p.authorized && p.fixtureCertificate && p.otherCaRefused,
    source: 'ours',
    issue: 13,
    functional: true,
  };
  const measured: Check[] = [];
  const notMeasured = (name: string, target: string, value: string): Check => ({ name, target, value, pass: null, source: 'ours', issue: 13 });
  const tlsName = `TLS max throughput ÷ nginx's (${r.tlsBy === 'wrk' ? 'wrk' : 'our generator'})`;
  measured.push(
    !ot || !Number.isFinite(r.tls)
      ? notMeasured(tlsName, `≥ ${TLS_THROUGHPUT_RATIO}`, !ot ? why : !nt ? nginxWhy : 'not measured')
      : guardFailures({ name: tlsName, target: `≥ ${TLS_THROUGHPUT_RATIO}`, value: `${fmt(r.tls)}x`, pass: r.tls >= TLS_THROUGHPUT_RATIO, source: 'ours', issue: 13 }, outriderStreams),
  );
  for (const rate of rates) {
    const mine = ot?.rates[String(rate)]?.tlsP99;
    const theirs = nt?.rates[String(rate)]?.tlsP99;
    const name = `p99 TLS adds over plain at ${rate} req/s ÷ nginx's`;
    const target = `≤ ${TLS_P99_FACTOR}× nginx's (at least ${TLS_P99_FLOOR_MS} ms allowed)`;
    if (mine === undefined || !Number.isFinite(mine) || theirs === undefined || !Number.isFinite(theirs)) {
      measured.push(notMeasured(name, target, !ot ? why : !nt ? nginxWhy : 'not measured'));
      continue;
    }
    const allowed = Math.max(TLS_P99_FACTOR * theirs, TLS_P99_FLOOR_MS);
    measured.push(guardFailures({ name, target, value: `${signed(mine)} ms (nginx ${signed(theirs)} ms, allowed ${fmt(allowed)} ms)`, pass: mine <= allowed, source: 'ours', issue: 13 }, outriderStreams));
  }
  const newName = 'new TLS connections per second ÷ nginx\'s (wrk, sessions resumed)';
  measured.push(
    !Number.isFinite(r.newConnections)
      ? notMeasured(newName, `≥ ${NEW_CONNECTIONS_RATIO}`, !ot ? why : !nt ? nginxWhy : 'not measured (wrk not installed, or --smoke)')
      : { name: newName, target: `≥ ${NEW_CONNECTIONS_RATIO}`, value: `${fmt(r.newConnections)}x${ot && ot.wrkErrors > 0 ? ` (wrk saw ${ot.wrkErrors} errors from Outrider)` : ''}`, pass: r.newConnections >= NEW_CONNECTIONS_RATIO, source: 'ours', issue: 13 },
  );
  const all = crash ? measured.map((c) => ({ ...c, value: `${c.value}; Outrider crashed: ${crash.slice(0, 200)}`, pass: false })) : measured;
  return [served, certificate, ...all];
}

export const tlsScenario: Scenario = {
  name: 'tls',
  title: 'TLS termination: Outrider vs nginx, same certificate, each against plain HTTP through itself',
  async run(ctx) {
    const rates = RATES[ctx.profile.name];
    const [upstreamPort, oPlain, oTls, oAdmin, nPlain, nTls] = (await freePorts(6)) as [number, number, number, number, number, number];
    const upstream = await startUpstream(upstreamPort);
    ctx.log(`  upstream: ${upstream.kind}`);
    const tlsSpec: TlsSpec = { ca: fs.readFileSync(CA, 'utf8'), servername: SERVERNAME };
    const targets: Target[] = [{ name: 'direct', proxy: 'direct', tls: false, run: directTarget(upstreamPort) }];
    const missing = new Map<string, string>();
    const probes = new Map<string, Probe>();
    const stoppers: (() => Promise<void>)[] = [];
    for (const [name, tlsPort, start] of [
      ['outrider', oTls, () => startOutriderPair(oPlain, oTls, oAdmin, upstreamPort, ctx.cpuProfDir)],
      ['nginx', nTls, () => startNginxTlsProxy(nPlain, nTls, upstreamPort, CERT, KEY)],
    ] as const) {
      const started = await start();
      if (!started.ok) {
        missing.set(name, started.reason);
        ctx.log(`  ${name}: ${started.reason}`);
        continue;
      }
      ctx.log(`  ${name}: ready in ${started.readyMs} ms`);
      stoppers.push(started.stop);
      targets.push({ name, proxy: name, tls: false, run: started });
      targets.push({ name: `${name}-tls`, proxy: name, tls: true, run: { ...started, port: tlsPort } });
      const p = await probe(tlsPort);
      probes.set(name, p);
      ctx.log(`  ${name}: TLS probe: ${p.error ?? `${p.authorized ? 'verified' : 'NOT verified'}, ${p.protocol} ${p.cipher}, session ${p.sessionResumed ? 'resumed' : 'not resumed'}`}`);
    }
    try {
      await warmUp(ctx, targets, tlsSpec);
      const dead = new Map<string, string>();
      const { samples, wrk } = await runPasses(ctx, targets, rates, tlsSpec, dead);
      const summaries = targets.map((t) => summarize(samples, wrk, rates, t));
      const r = ratios(samples, wrk);
      const useWrk = wrk.some((w) => w.result);
      const tables: Table[] = [latencyTable(rates, summaries), throughputTable(summaries, r, useWrk), perPassTable(samples, wrk, rates, ctx.profile.passes)];
      const notes = [...missing, ...dead];
      if (notes.length > 0) tables.push({ title: 'Not measured, or died during the run', columns: ['target', 'why'], rows: notes.map(([a, b]) => [a, b]) });
      return {
        status: 'ok',
        tables,
        charts: charts(samples, rates, summaries),
        checks: checks(summaries, r, rates, probes, missing, dead, samples.filter((s) => s.target.startsWith('outrider')).map((s) => s.stream)),
        data: {
          upstream: upstream.kind,
          certificate: 'test/fixtures/tls/server.crt (RSA 2048, localhost and 127.0.0.1)',
          rates,
          outriderBuilt: outriderBuilt(),
          probes: Object.fromEntries(probes),
          missing: Object.fromEntries(missing),
          died: Object.fromEntries(dead),
          ratios: r,
          summaries,
          wrk,
          samples: samples.map(({ stream, ...rest }) => ({ ...rest, latency: stream.latency, service: stream.service, achievedRps: stream.achievedRps, outcomes: stream.outcomes, opened: stream.opened })),
        },
      };
    } finally {
      for (const stop of stoppers) await stop();
      await upstream.stop();
    }
  },
};
