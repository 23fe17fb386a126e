/**
 * shadow: mirrors `percent`% of the route's admitted requests (sampled evenly: every n-th, not
 * in bursts) to the shadow upstream, with `Host` suffixed `-shadow` and `x-outrider-shadow: 1`,
 * through a pool of its own. Fire-and-forget: the primary never waits for the shadow and its
 * answer never comes from it.
 *
 * - A request body is teed, not waited on: the primary streams as usual; the shadow's copy is
 *   buffered at most up to `replayBodyLimit`, beyond which that shadow is dropped.
 * - At most SHADOW_MAX_IN_FLIGHT shadows per route are in flight; more are dropped (counted),
 *   never queued. Each has its own deadline (the route's timeout) and is not cancelled when
 *   the client goes away.
 * - With `compare`, the primary's answer is captured as it streams to the client (up to
 *   COMPARE_BODY_LIMIT) and diffed with the shadow's once both are in (shadow-compare.ts):
 *   matches and differences are counted, and a bounded sample of diffs is logged.
 * - With `compare.noise`, that share of compared GET/HEAD requests is also sent a second time
 *   to the primary; paths where the two primary answers differ are learned as noise and left
 *   out of the shadow's differences (Diffy's approach).
 */
import { PassThrough, type Readable } from 'node:stream';
import { performance } from 'node:perf_hooks';
import type { RoutePolicy, ShadowPolicy } from '../../config/types.js';
import { OutriderError } from '../../errors.js';
import { CapturingBody, collectBody, discardBody } from '../../http/collect-body.js';
import type { LayerContext } from '../../pipeline/contract.js';
import { stateKey } from '../../state/registry.js';
import { AttemptLedger } from '../../pipeline/exchange.js';
import type { Exchange, Handler, Layer, ProxyRequest, ProxyResponse } from '../../pipeline/layer.js';
import { isReplayable } from '../../pipeline/replay.js';
import { Cancelled, CancelScope } from '../../pipeline/signal.js';
import { forwardTerminal } from '../../upstream/forward.js';
import { UpstreamRuntime, upstreamSettings } from '../../upstream/upstream.js';
import { compareAnswers, IgnoreList, NoiseFilter, type CapturedAnswer } from './compare.js';

export const SHADOW_MAX_IN_FLIGHT = 64;
/** After this many shadow failures in a row, mirroring pauses for SHADOW_PAUSE_MS. */
const SHADOW_FAILURES_TO_PAUSE = 5;
const SHADOW_PAUSE_MS = 1_000;
const COMPARE_BODY_LIMIT = 1024 * 1024;
const DEFAULT_SHADOW_TIMEOUT_MS = 15_000;
const DIFF_LOG_LINES_PER_MINUTE = 10;
/** A second primary call must be harmless: safe methods only, whatever the route allows. */
const NOISE_PROBE_METHODS = new Set(['GET', 'HEAD']);

/** Per-route shadow state, kept across reloads: the sampler and the counts for /status. */
class ShadowState {
  inFlight = 0;
  sent = 0;
  dropped = 0;
  failed = 0;
  compared = 0;
  matched = 0;
  noiseProbes = 0;
  noiseSuppressed = 0;
  /**
   * A dead shadow costs a failed connect per mirrored request, CPU the primary pays for; after
   * a run of failures the shadow is dropped outright for a while (as a breaker would).
   */
  consecutiveFailures = 0;
  pausedUntil = 0;
  readonly noise = new NoiseFilter();
  #credit = 0;
  #noiseCredit = 0;
  #logWindowStart = 0;
  #loggedInWindow = 0;

  /** Evenly spaced sampling: with ratio 0.1, exactly every 10th request. */
  sample(ratio: number): boolean {
    this.#credit += ratio;
    if (this.#credit < 1) return false;
    this.#credit -= 1;
    return true;
  }

  /** The same, among compared requests, for Diffy's second primary call. */
  sampleNoise(ratio: number): boolean {
    this.#noiseCredit += ratio;
    if (this.#noiseCredit < 1) return false;
    this.#noiseCredit -= 1;
    return true;
  }

  mayLogDiff(now: number): boolean {
    if (now - this.#logWindowStart > 60_000) {
      this.#logWindowStart = now;
      this.#loggedInWindow = 0;
    }
    return this.#loggedInWindow++ < DIFF_LOG_LINES_PER_MINUTE;
  }

  snapshot() {
    return {
      inFlight: this.inFlight,
      sent: this.sent,
      dropped: this.dropped,
      failed: this.failed,
      compared: this.compared,
      matched: this.matched,
      matchRate: this.compared === 0 ? null : this.matched / this.compared,
      noiseProbes: this.noiseProbes,
      noiseSuppressed: this.noiseSuppressed,
      noisePaths: this.noise.paths(),
    };
  }
}

/** What shadowing reports; implemented by observability/metrics.ts. */
export interface ShadowMetrics {
  shadowRecorder(route: string): ShadowRecorder;
}

export interface ShadowRecorder {
  copy(result: 'sent' | 'dropped' | 'failed'): void;
  compared(match: boolean): void;
  difference(kind: string): void;
}

export function shadowLayer(route: RoutePolicy, context: LayerContext<ShadowMetrics>): Layer | undefined {
  const policy = route.shadow;
  const target = policy === undefined ? undefined : context.upstreamPolicy(policy.upstream);
  if (policy === undefined || target === undefined) return undefined;
  // A pool of its own, so shadow traffic never takes a connection the primary needs.
  const upstream = context.registry.acquire(
    stateKey('shadow-upstream', upstreamSettings(target)),
    () => new UpstreamRuntime(target, {}, { clock: context.clock }),
    (u) => u.close(),
  );
  void upstream.start();
  const state = context.registry.acquire(stateKey('shadow', route.name), () => new ShadowState());
  context.status('shadow', () => ({ upstream: policy.upstream, percent: policy.ratio * 100, ...state.snapshot() }));
  const primaryUpstream = context.upstream(route.upstream ?? '');
  const probe = primaryUpstream === undefined ? undefined : forwardTerminal(primaryUpstream);
  const mirror = new Mirror(route, policy, context, state, forwardTerminal(upstream), probe);
  const limitBytes = context.replayBodyLimitBytes;

  return (next) =>
    function shadow(exchange: Exchange): Promise<ProxyResponse> {
      // An upgrade is a handshake, then a tunnel: never mirrored.
      if (exchange.request.upgrade !== undefined || !state.sample(policy.ratio)) return next(exchange);
      if (state.inFlight >= SHADOW_MAX_IN_FLIGHT || (state.pausedUntil > 0 && context.clock.now() < state.pausedUntil)) {
        mirror.count('dropped');
        return next(exchange);
      }
      const { primary, copy, overflowed } = teeBody(exchange.request.body, limitBytes);
      const shadowAnswer = mirror.send(exchange, copy, overflowed);
      const answer = next(primary === exchange.request.body ? exchange : withBody(exchange, primary));
      if (policy.compare === undefined) return answer;
      const noiseAnswer = mirror.probeNoise(exchange, copy);
      return answer.then((response) => mirror.compareLater(exchange, response, shadowAnswer, noiseAnswer));
    };
}

/** Sends shadow copies and compares their answers; one per route. */
class Mirror {
  readonly #route: RoutePolicy;
  readonly #policy: ShadowPolicy;
  readonly #log: LayerContext['log'];
  readonly #clock: LayerContext['clock'];
  readonly #recorder: ShadowRecorder;
  readonly #state: ShadowState;
  readonly #send: Handler;
  readonly #probe: Handler | undefined;
  readonly #ignore: IgnoreList;
  readonly #timeoutMs: number;

  constructor(route: RoutePolicy, policy: ShadowPolicy, context: LayerContext<ShadowMetrics>, state: ShadowState, send: Handler, probe: Handler | undefined) {
    this.#route = route;
    this.#policy = policy;
    this.#log = context.log;
    this.#clock = context.clock;
    this.#recorder = context.metrics.shadowRecorder(route.name);
    this.#state = state;
    this.#send = send;
    this.#probe = probe;
    this.#ignore = new IgnoreList(policy.compare?.ignore ?? []);
    this.#timeoutMs = route.timeoutMs > 0 ? route.timeoutMs : DEFAULT_SHADOW_TIMEOUT_MS;
  }

  count(result: 'sent' | 'dropped' | 'failed'): void {
    this.#state[result] += 1;
    this.#recorder.copy(result);
  }

  /**
   * Fire the shadow copy; resolves with its answer (for compare) or undefined. Never rejects.
   * A copy given up because it fell behind the primary (`overflowed`) is dropped, not failed:
   * the shadow is slow, not dead, and must not count towards the pause.
   */
  send(exchange: Exchange, body: ProxyRequest['body'] | undefined, overflowed: () => boolean = () => false): Promise<CapturedAnswer | undefined> {
    if (body === undefined) {
      this.count('dropped');
      return Promise.resolve(undefined);
    }
    const request: ProxyRequest = { ...exchange.request, headers: shadowHeaders(exchange.request.headers), body };
    this.#state.inFlight += 1;
    this.count('sent');
    return this.#detached(this.#send, exchange, request).then(
      (answer) => {
        this.#state.consecutiveFailures = 0;
        return answer;
      },
      () => {
        if (overflowed()) {
          this.count('dropped');
          return undefined;
        }
        this.count('failed');
        if (++this.#state.consecutiveFailures >= SHADOW_FAILURES_TO_PAUSE) this.#state.pausedUntil = this.#clock.now() + SHADOW_PAUSE_MS;
        return undefined;
      },
    ).finally(() => {
      this.#state.inFlight -= 1;
    });
  }

  /** On a sample of compared safe requests, ask the primary a second time (noise learning). */
  probeNoise(exchange: Exchange, body: ProxyRequest['body'] | undefined): Promise<CapturedAnswer | undefined> | undefined {
    const ratio = this.#policy.compare?.noiseRatio ?? 0;
    const { method } = exchange.request;
    if (this.#probe === undefined || ratio <= 0 || body === undefined || !isReplayable(body) || !NOISE_PROBE_METHODS.has(method)) return undefined;
    if (!this.#state.sampleNoise(ratio)) return undefined;
    this.#state.noiseProbes += 1;
    const request: ProxyRequest = { ...exchange.request, headers: [...exchange.request.headers, 'x-outrider-noise-probe', '1'], body };
    return this.#detached(this.#probe, exchange, request).catch(() => undefined);
  }

  /** A request of our own, on its own deadline, not cancelled with the client's. */
  async #detached(send: Handler, exchange: Exchange, request: ProxyRequest): Promise<CapturedAnswer | undefined> {
    const scope = new CancelScope();
    const timer = this.#clock.setTimeout(() => scope.abort(new OutriderError('timeout', 'shadow timed out', { route: this.#route.name })), this.#timeoutMs);
    const ledger = new AttemptLedger(performance.now());
    try {
      return await this.#read(await send({ request, route: exchange.route, signal: scope, ledger }));
    } finally {
      clearTimeout(timer);
      ledger.finish();
    }
  }

  async #read(response: ProxyResponse): Promise<CapturedAnswer | undefined> {
    if (this.#policy.compare === undefined) {
      await discardBody(response.body);
      return undefined;
    }
    const body = await collectBody(response.body, COMPARE_BODY_LIMIT);
    return { status: response.status, headers: response.headers, body };
  }

  /** Pass the primary on untouched, keeping a copy of its bytes to diff once both are in. */
  compareLater(
    exchange: Exchange,
    response: ProxyResponse,
    shadowAnswer: Promise<CapturedAnswer | undefined>,
    noiseAnswer: Promise<CapturedAnswer | undefined> | undefined,
  ): ProxyResponse {
    const capturing = new CapturingBody(response.body, COMPARE_BODY_LIMIT);
    const headers = [...response.headers];
    void Promise.all([capturing.captured, shadowAnswer, noiseAnswer]).then(([body, shadow, secondPrimary]) => {
      const primary = { status: response.status, headers, body };
      if (secondPrimary !== undefined) this.#state.noise.learn(compareAnswers(primary, secondPrimary, this.#ignore));
      if (shadow !== undefined) this.#record(exchange, primary, shadow);
    });
    return { status: response.status, headers: response.headers, body: capturing };
  }

  #record(exchange: Exchange, primary: CapturedAnswer, shadow: CapturedAnswer): void {
    const all = compareAnswers(primary, shadow, this.#ignore);
    const diffs = all.filter((diff) => !this.#state.noise.isNoise(diff));
    this.#state.noiseSuppressed += all.length - diffs.length;
    const route = this.#route.name;
    this.#state.compared += 1;
    if (diffs.length === 0) this.#state.matched += 1;
    this.#recorder.compared(diffs.length === 0);
    for (const diff of diffs) this.#recorder.difference(diff.kind);
    if (diffs.length > 0 && this.#state.mayLogDiff(this.#clock.now())) {
      this.#log.info({ route, requestId: exchange.request.requestId, shadow: this.#policy.upstream, diffs }, 'shadow answer differs');
    }
  }
}

/**
 * The primary's body and the shadow's copy. Bytes in hand (or none) serve both. A stream is
 * teed: the primary reads it as usual, with backpressure; the copy is buffered on the side and
 * dropped (undefined) if it grows past `limitBytes`, so a slow shadow never slows the primary.
 */
function teeBody(
  body: ProxyRequest['body'],
  limitBytes: number,
): { primary: ProxyRequest['body']; copy: ProxyRequest['body'] | undefined; overflowed: () => boolean } {
  if (isReplayable(body)) return { primary: body, copy: body, overflowed: () => false };
  const primary = new PassThrough();
  const copy = new PassThrough();
  let dropped = false;
  body.on('data', (chunk: Buffer) => {
    if (dropped) return;
    if (copy.writableLength + chunk.length > limitBytes) {
      dropped = true;
      copy.destroy(new Cancelled('shadow copy of the body exceeded replayBodyLimit'));
      return;
    }
    copy.write(chunk);
  });
  body.on('end', () => dropped || copy.end());
  body.on('error', (err) => copy.destroy(err));
  body.pipe(primary);
  return { primary, copy: copy as Readable, overflowed: () => dropped };
}

function withBody(exchange: Exchange, body: ProxyRequest['body']): Exchange {
  return { ...exchange, request: { ...exchange.request, body } };
}

/** `catalog:8080` → `catalog-shadow:8080`, and `x-outrider-shadow: 1` added. */
function shadowHeaders(headers: readonly string[]): string[] {
  const out = [...headers, 'x-outrider-shadow', '1'];
  for (let i = 0; i < out.length; i += 2) {
    if ((out[i] as string).toLowerCase() !== 'host') continue;
    const host = out[i + 1] as string;
    const port = /:\d+$/.exec(host);
    out[i + 1] = port === null ? `${host}-shadow` : `${host.slice(0, port.index)}-shadow${port[0]}`;
    break;
  }
  return out;
}
