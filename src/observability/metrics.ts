/**
 * Prometheus metrics (`outrider_*`), exposed on the admin server's /metrics. Label children are
 * resolved once per route and status class and cached; the series every request touches count
 * in plain numbers that prom-client reads at scrape time (scrape-time.ts, request-recorder.ts).
 *
 * Each pattern declares the small interface it reports through (RetryMetrics, BulkheadMetrics,
 * …, next to the pattern); this class satisfies them all without importing any, so metrics
 * never depend on patterns (pipeline/contract.ts).
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from './prom.js';
import { requestRecorder, type RequestRecorder } from './request-recorder.js';
import { ScrapeTimeCounter, ScrapeTimeGauge, ScrapeTimeHistogram, type CountChild } from './scrape-time.js';

export type { RequestProtocol, RequestRecorder } from './request-recorder.js';

const BREAKER_STATES = ['closed', 'open', 'half-open'] as const;
type BreakerState = (typeof BREAKER_STATES)[number];
type RejectReason = 'queue-full' | 'queue-timeout';

/** Counts one thing for one route: a cached label child. */
export interface Increment {
  inc(): void;
}

/** Latency buckets in seconds, from 0.5 ms (proxy overhead) to 30 s (slow upstreams). */
const DURATION_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

export class Metrics {
  readonly registry = new Registry();
  readonly requests: ScrapeTimeCounter<'listener' | 'route' | 'upstream' | 'status_class' | 'protocol'>;
  readonly duration: ScrapeTimeHistogram<'route' | 'upstream' | 'status_class'>;
  readonly errors: Counter<'route' | 'code'>;
  readonly inFlight: ScrapeTimeGauge<'listener'>;
  readonly reloads: Counter<'result'>;
  readonly policyInfo: Gauge<'hash'>;
  readonly grpcCalls = this.#counter('outrider_grpc_calls_total', 'gRPC calls answered, by route, upstream and grpc-status (its name: ok, unavailable, …).', ['route', 'upstream', 'grpc_status']);
  // Patterns that send more than one try (retry, hedge), and outlier ejection.
  readonly tries = new ScrapeTimeCounter({
    name: 'outrider_tries_total',
    help: 'Tries sent upstream, by route and kind (first, retry, hedge).',
    labelNames: ['route', 'kind'],
    registry: this.registry,
  });
  readonly hedgeWins = this.#counter('outrider_hedge_wins_total', 'Requests answered by a hedge copy rather than the first try.', ['route']);
  readonly budgetExhausted = this.#counter(
    'outrider_budget_exhausted_total',
    'Extra tries refused because the route budget was spent, by budget (retry, hedge).',
    ['route', 'budget'],
  );
  readonly replaySkipped = this.#counter(
    'outrider_replay_skipped_total',
    'Requests whose body exceeded replayBodyLimit, so retry, hedge and shadow stepped aside.',
    ['route'],
  );
  readonly shadowRequests = this.#counter(
    'outrider_shadow_requests_total',
    'Shadow copies by result: sent, dropped (in-flight limit or body too large), failed (no answer).',
    ['route', 'result'],
  );
  readonly shadowCompares = this.#counter('outrider_shadow_compares_total', 'Shadow answers compared with the primary, by result (match, mismatch).', ['route', 'result']);
  readonly shadowDiffs = this.#counter('outrider_shadow_differences_total', 'Differences found between shadow and primary answers, by kind (status, header, body).', ['route', 'kind']);
  readonly tunnelsActive = new Gauge({
    name: 'outrider_tunnels_active',
    help: 'Open tunnels (an upgrade after 101, a CONNECT after 200), by listener and kind.',
    labelNames: ['listener', 'kind'] as const,
    registers: [this.registry],
  });
  readonly tunnelBytes = this.#counter(
    'outrider_tunnel_bytes_total',
    'Bytes carried by closed tunnels, by listener, kind (upgrade, connect) and direction (upstream: from the client, downstream: to it).',
    ['listener', 'kind', 'direction'],
  );
  readonly outlierEjections = this.#counter('outrider_outlier_ejections_total', 'Endpoints ejected as outliers, by upstream.', ['upstream']);
  // Hostile or broken clients (http/listener.ts): refused before any request reached a route.
  readonly clientErrors = this.#counter(
    'outrider_client_errors_total',
    'Connections answered with an error and closed before a request could be read (malformed HTTP, oversized headers, slow clients), by listener and code.',
    ['listener', 'code'],
  );
  readonly connectionsDropped = this.#counter(
    'outrider_connections_dropped_total',
    'Client connections closed at accept because the listener already held its maximum, by listener.',
    ['listener'],
  );

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'outrider_' });
    const registers = [this.registry];
    this.requests = new ScrapeTimeCounter({
      name: 'outrider_requests_total',
      help: 'Requests answered, by listener, route, upstream, status class and protocol (http1, h2, grpc).',
      labelNames: ['listener', 'route', 'upstream', 'status_class', 'protocol'],
      registry: this.registry,
    });
    this.duration = new ScrapeTimeHistogram({
      name: 'outrider_request_duration_seconds',
      help: 'Time from request received to response fully sent, in seconds.',
      labelNames: ['route', 'upstream', 'status_class'],
      buckets: DURATION_BUCKETS,
      registry: this.registry,
    });
    this.errors = new Counter({
      name: 'outrider_errors_total',
      help: 'Responses the sidecar made itself, by error code (x-outrider-error).',
      labelNames: ['route', 'code'],
      registers,
    });
    this.inFlight = new ScrapeTimeGauge({
      name: 'outrider_requests_in_flight',
      help: 'Client requests being answered right now, by listener.',
      labelNames: ['listener'],
      registry: this.registry,
    });
    this.reloads = new Counter({
      name: 'outrider_policy_reloads_total',
      help: 'Policy reloads, by result (applied, rejected).',
      labelNames: ['result'],
      registers,
    });
    this.policyInfo = new Gauge({
      name: 'outrider_policy_info',
      help: 'The running policy, by content hash (value 1).',
      labelNames: ['hash'],
      registers,
    });
  }

  #counter<L extends string>(name: string, help: string, labelNames: readonly L[]): Counter<L> {
    return new Counter({ name, help, labelNames, registers: [this.registry] });
  }

  /** A recorder for one listener, route and upstream, with its label children cached. */
  triesCounter(route: string, kind: 'first' | 'retry' | 'hedge'): Increment {
    return this.tries.labels(route, kind);
  }

  hedgeWinsCounter(route: string): Increment {
    return this.hedgeWins.labels(route);
  }

  budgetExhaustedCounter(route: string, budget: 'retry' | 'hedge'): Increment {
    return this.budgetExhausted.labels(route, budget);
  }

  replaySkippedCounter(route: string): Increment {
    return this.replaySkipped.labels(route);
  }

  shadowRecorder(route: string): { copy(result: 'sent' | 'dropped' | 'failed'): void; compared(match: boolean): void; difference(kind: string): void } {
    return {
      copy: (result) => this.shadowRequests.labels(route, result).inc(),
      compared: (match) => this.shadowCompares.labels(route, match ? 'match' : 'mismatch').inc(),
      difference: (kind) => this.shadowDiffs.labels(route, kind).inc(),
    };
  }

  /** What one listener's requests on one route record (observe layer). */
  recorderFor(listener: string, route: string, upstream: string): RequestRecorder {
    return requestRecorder(this, listener, route, upstream);
  }

  /** The in-flight count of one listener (a request moves it twice). */
  inFlightOf(listener: string): CountChild {
    let child = this.#inFlightChildren.get(listener);
    if (child === undefined) this.#inFlightChildren.set(listener, (child = this.inFlight.labels(listener)));
    return child;
  }

  readonly #inFlightChildren = new Map<string, CountChild>();

  // --- circuit breakers and bulkheads (policies/circuit-breaker/, policies/bulkhead/) ---
  // Labels are route and upstream only: tenants appear on /status (top N), never as labels,
  // so the number of series is bounded by the policy, not by traffic.

  readonly #breakers = new Map<string, { readonly route: string; readonly upstream: string; readonly state: () => BreakerState }>();
  readonly breakerState = new Gauge({
    name: 'outrider_circuit_breaker_state',
    help: 'Circuit breaker state by route and upstream: 1 for the current state (closed, open, half-open), 0 for the others.',
    labelNames: ['route', 'upstream', 'state'] as const,
    registers: [this.registry],
    // Read at scrape time: an open breaker turns half-open when asked, without a timer.
    collect: () => this.#collectBreakerStates(),
  });
  readonly breakerTransitions = new Counter({
    name: 'outrider_circuit_breaker_transitions_total',
    help: 'Circuit breaker state changes, by route, upstream, from and to.',
    labelNames: ['route', 'upstream', 'from', 'to'] as const,
    registers: [this.registry],
  });
  readonly bulkheadInFlight = new ScrapeTimeGauge({
    name: 'outrider_bulkhead_in_flight',
    help: 'Client requests holding a bulkhead slot, by route (all partitions).',
    labelNames: ['route'],
    registry: this.registry,
  });
  readonly bulkheadQueued = new ScrapeTimeGauge({
    name: 'outrider_bulkhead_queued',
    help: 'Client requests waiting for a bulkhead slot, by route (all partitions).',
    labelNames: ['route'],
    registry: this.registry,
  });
  readonly bulkheadRejections = new Counter({
    name: 'outrider_bulkhead_rejections_total',
    help: 'Requests refused with bulkhead-full, by route and reason (queue-full, queue-timeout).',
    labelNames: ['route', 'reason'] as const,
    registers: [this.registry],
  });
  readonly bulkheadPartitions = new ScrapeTimeGauge({
    name: 'outrider_bulkhead_partitions',
    help: 'Keyed bulkhead pools in use (tenants with requests in flight or queued), by route.',
    labelNames: ['route'],
    registry: this.registry,
  });

  /** Report a breaker's state at every scrape until the returned function is called. */
  trackBreaker(route: string, upstream: string, state: () => BreakerState): () => void {
    const key = `${route}\0${upstream}`;
    const entry = { route, upstream, state };
    this.#breakers.set(key, entry);
    return () => {
      // A reload that changed the breaker's settings has already put its successor here.
      if (this.#breakers.get(key) !== entry) return;
      this.#breakers.delete(key);
      for (const s of BREAKER_STATES) this.breakerState.remove(route, upstream, s);
    };
  }

  countBreakerTransition(route: string, upstream: string, from: BreakerState, to: BreakerState): void {
    this.breakerTransitions.labels(route, upstream, from, to).inc();
  }

  /** A recorder for one route's bulkhead, with its label children cached (its gauges move twice per request). */
  bulkheadRecorder(route: string) {
    const inFlight = this.bulkheadInFlight.labels(route);
    const queued = this.bulkheadQueued.labels(route);
    const partitions = this.bulkheadPartitions.labels(route);
    const rejections = { 'queue-full': this.bulkheadRejections.labels(route, 'queue-full'), 'queue-timeout': this.bulkheadRejections.labels(route, 'queue-timeout') };
    // inc(0) makes every series visible from the start without touching a count a previous
    // build of the route left (its requests may still hold slots).
    for (const child of [inFlight, queued, partitions, rejections['queue-full'], rejections['queue-timeout']]) child.inc(0);
    return {
      inFlight: (delta: number) => inFlight.inc(delta),
      queued: (delta: number) => queued.inc(delta),
      partitions: (delta: number) => partitions.inc(delta),
      rejected: (reason: RejectReason) => rejections[reason].inc(),
    };
  }

  #collectBreakerStates(): void {
    for (const { route, upstream, state } of this.#breakers.values()) {
      const current = state();
      for (const s of BREAKER_STATES) this.breakerState.labels(route, upstream, s).set(s === current ? 1 : 0);
    }
  }

  // --- scatter-gather (policies/scatter-gather/) ---
  // The target label is the configured name, not `name[i]`, so shards found by DNS add no series.

  readonly scatterCalls = this.#counter(
    'outrider_scatter_calls_total',
    'Scatter-gather calls, by route, target and outcome (success, or why it failed: timeout, upstream-status, cancelled, …).',
    ['route', 'target', 'outcome'],
  );
  readonly scatterCallDuration = new Histogram({
    name: 'outrider_scatter_call_duration_seconds',
    help: 'Time from sending a scatter-gather call to its answer read whole, in seconds (cancelled calls left out).',
    labelNames: ['route', 'target'] as const,
    buckets: DURATION_BUCKETS,
    registers: [this.registry],
  });
  readonly scatterAnswers = this.#counter(
    'outrider_scatter_answers_total',
    'Scatter-gather requests, by route and result (complete, partial, failed).',
    ['route', 'result'],
  );

  scatterRecorder(route: string) {
    return {
      call: (target: string, outcome: string, seconds: number | undefined) => {
        this.scatterCalls.labels(route, target, outcome).inc();
        if (seconds !== undefined) this.scatterCallDuration.labels(route, target).observe(seconds);
      },
      answer: (result: 'complete' | 'partial' | 'failed') => this.scatterAnswers.labels(route, result).inc(),
    };
  }

  async exposition(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}
