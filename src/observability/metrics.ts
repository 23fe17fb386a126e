/**
 * Prometheus metrics (`outrider_*`), exposed on the admin server's /metrics. Label children are
 * resolved once per route and status class and cached, so recording a request costs a counter
 * increment and a histogram observation, not a label lookup.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

const STATUS_CLASSES = ['1xx', '2xx', '3xx', '4xx', '5xx'] as const;

/** Latency buckets in seconds, from 0.5 ms (proxy overhead) to 30 s (slow upstreams). */
const DURATION_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

export interface RequestRecorder {
  record(status: number, durationSeconds: number): void;
}

export class Metrics {
  readonly registry = new Registry();
  readonly requests: Counter<'listener' | 'route' | 'upstream' | 'status_class'>;
  readonly duration: Histogram<'route' | 'upstream' | 'status_class'>;
  readonly errors: Counter<'route' | 'code'>;
  readonly inFlight: Gauge<'listener'>;
  readonly reloads: Counter<'result'>;
  readonly policyInfo: Gauge<'hash'>;

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'outrider_' });
    const registers = [this.registry];
    this.requests = new Counter({
      name: 'outrider_requests_total',
      help: 'Requests answered, by listener, route, upstream and status class.',
      labelNames: ['listener', 'route', 'upstream', 'status_class'],
      registers,
    });
    this.duration = new Histogram({
      name: 'outrider_request_duration_seconds',
      help: 'Time from request received to response fully sent, in seconds.',
      labelNames: ['route', 'upstream', 'status_class'],
      buckets: DURATION_BUCKETS,
      registers,
    });
    this.errors = new Counter({
      name: 'outrider_errors_total',
      help: 'Responses the sidecar made itself, by error code (x-outrider-error).',
      labelNames: ['route', 'code'],
      registers,
    });
    this.inFlight = new Gauge({
      name: 'outrider_requests_in_flight',
      help: 'Client requests being answered right now, by listener.',
      labelNames: ['listener'],
      registers,
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

  /** A recorder for one listener, route and upstream, with its label children cached. */
  recorderFor(listener: string, route: string, upstream: string): RequestRecorder {
    const counters = STATUS_CLASSES.map((c) => this.requests.labels(listener, route, upstream, c));
    const histograms = STATUS_CLASSES.map((c) => this.duration.labels(route, upstream, c));
    return {
      record(status, durationSeconds) {
        const index = Math.min(4, Math.max(0, Math.floor(status / 100) - 1));
        (counters[index] as (typeof counters)[number]).inc();
        (histograms[index] as (typeof histograms)[number]).observe(durationSeconds);
      },
    };
  }

  async exposition(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}
