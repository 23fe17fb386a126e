/**
 * The patterns' blocks of the policy schema (schema.ts), one section per pattern in the order
 * of docs/policy.md: retry, hedge, circuitBreaker, bulkhead, shadow, scatterGather.
 */
import { Type } from '@sinclair/typebox';
import { DURATION_PATTERN, PERCENTILE_PATTERN } from '../util/units.js';
import { BREAKER_FAILURES, DEFAULTS, RETRY_CONDITIONS } from './defaults.js';
import { GRPC_CONDITIONS } from '../grpc/status.js';
import { Strict, StringEnum, Duration, PositiveDuration, Count, Ratio, Percent, Name, Reference, HEADER_NAME_PATTERN, Methods, listOf, inner } from './schema-blocks.js';

// ---------------------------------------------------------------------------------------------
// Route: retry
// ---------------------------------------------------------------------------------------------

const RetryCondition = Type.Union(
  [
    Type.Integer({ minimum: 100, maximum: 599, description: 'An HTTP status code.' }),
    StringEnum(RETRY_CONDITIONS, { description: 'A class of failure: 5xx, gateway-error (502, 503, 504), connect-failure, reset, timeout.' }),
    StringEnum(GRPC_CONDITIONS, { description: 'A gRPC call answered with this grpc-status (in its trailers or trailers-only headers).' }),
  ],
  { errorMessage: `must be one of ${listOf(RETRY_CONDITIONS)}, a gRPC status such as grpc:unavailable, or an HTTP status code such as 503` },
);

const Backoff = Strict(
  {
    base: Type.Optional(Duration({ description: 'The first backoff ceiling; it doubles after each try.', default: DEFAULTS.retry.backoff.base })),
    max: Type.Optional(Duration({ description: 'The largest backoff ceiling. The actual wait is random in [0, ceiling] (full jitter).', default: DEFAULTS.retry.backoff.max })),
  },
  { description: 'Exponential backoff with full jitter between tries. A Retry-After header from the upstream is honoured.' },
);

const RetryBudget = Strict(
  {
    ratio: Type.Optional(Ratio({ description: 'Retries may add at most this share (0-1) of the route\'s requests over a sliding 10 s window.', default: DEFAULTS.retry.budget.ratio })),
    minPerSecond: Type.Optional(Type.Number({ minimum: 0, description: 'Retries always allowed per second regardless of the ratio (a floor for quiet routes).', default: DEFAULTS.retry.budget.minPerSecond })),
  },
  { description: 'Caps retries so a failing upstream is not hit with a retry storm.' },
);

export const Retry = Strict(
  {
    attempts: Type.Optional(Count(1, { description: 'Tries in all, the first one included (1 disables retries).', default: DEFAULTS.retry.attempts })),
    perTryTimeout: Type.Optional(Duration({ description: 'Deadline of one try. Omitted or 0s: no per-try deadline (the route timeout still applies).' })),
    on: Type.Optional(
      Type.Array(RetryCondition, {
        minItems: 1,
        uniqueItems: true,
        description: 'Conditions that make a try worth repeating.',
        default: [...DEFAULTS.retry.on],
      }),
    ),
    backoff: Type.Optional(Backoff),
    budget: Type.Optional(RetryBudget),
    methods: Type.Optional(Methods('Only requests with these methods are retried (default: the idempotent methods).')),
  },
  { description: 'Repeat a failed try, never after response bytes reached the client. Tries carry x-outrider-attempt: N.' },
);

// ---------------------------------------------------------------------------------------------
// Route: hedge
// ---------------------------------------------------------------------------------------------

export const HEDGE_DELAY_PATTERN = `^(${inner(PERCENTILE_PATTERN)}|${inner(DURATION_PATTERN)})$`;

export const Hedge = Strict(
  {
    delay: Type.Optional(
      Type.String({
        pattern: HEDGE_DELAY_PATTERN,
        errorMessage: 'must be a latency percentile such as p95 or p99.9, or a duration such as 40ms',
        description: 'Required. Send another copy when no response headers came within this delay: a percentile of the route\'s recent latency (p95, p99, p99.9) or a fixed duration.',
      }),
    ),
    minDelay: Type.Optional(Duration({ description: 'A percentile delay never goes below this.', default: DEFAULTS.hedge.minDelay })),
    maxAttempts: Type.Optional(Count(1, { description: 'Copies in flight at most, the original included.', default: DEFAULTS.hedge.maxAttempts })),
    budget: Type.Optional(
      Strict(
        { ratio: Type.Optional(Ratio({ description: 'Hedges may add at most this share (0-1) of the route\'s requests.', default: DEFAULTS.hedge.budget.ratio })) },
        { description: 'Caps the extra load that hedging adds.' },
      ),
    ),
    methods: Type.Optional(Methods('Only requests with these methods are hedged (default: the idempotent methods).')),
  },
  { description: 'Race a second copy of a slow request (to another endpoint when there is one); the first response wins.' },
);

// ---------------------------------------------------------------------------------------------
// Route: circuitBreaker
// ---------------------------------------------------------------------------------------------

export const CircuitBreaker = Strict(
  {
    failureRatio: Type.Optional(
      Type.Number({ exclusiveMinimum: 0, maximum: 1, description: 'Open when failures / calls >= this over the window (0-1, above 0).', default: DEFAULTS.circuitBreaker.failureRatio }),
    ),
    minRequests: Type.Optional(Count(1, { description: 'No decision below this many calls in the window.', default: DEFAULTS.circuitBreaker.minRequests })),
    window: Type.Optional(PositiveDuration({ description: 'The sliding window the ratio is measured over.', default: DEFAULTS.circuitBreaker.window })),
    slowCall: Type.Optional(Duration({ description: 'A call slower than this counts as a failure. Omitted or 0s: off.' })),
    openFor: Type.Optional(PositiveDuration({ description: 'How long the breaker stays open before going half-open.', default: DEFAULTS.circuitBreaker.openFor })),
    halfOpenRequests: Type.Optional(Count(1, { description: 'Probes let through while half-open; all must succeed to close.', default: DEFAULTS.circuitBreaker.halfOpenRequests })),
    failOn: Type.Optional(
      Type.Array(
        StringEnum([...BREAKER_FAILURES, ...GRPC_CONDITIONS], {
          description: 'A class of failure, or a gRPC status such as grpc:unavailable.',
          errorMessage: `must be one of ${listOf(BREAKER_FAILURES)}, or a gRPC status such as grpc:unavailable`,
        }),
        {
        minItems: 1,
        uniqueItems: true,
        description: 'What counts as a failure.',
        default: [...DEFAULTS.circuitBreaker.failOn],
        },
      ),
    ),
  },
  { description: 'One breaker per route and upstream: fail fast (503 circuit-open) while the upstream is failing.' },
);

// ---------------------------------------------------------------------------------------------
// Route: bulkhead
// ---------------------------------------------------------------------------------------------

export const Bulkhead = Strict(
  {
    maxConcurrent: Type.Optional(Count(1, { description: 'Requests in flight to the upstream at most (one slot per client request, held across its tries).', default: DEFAULTS.bulkhead.maxConcurrent })),
    maxQueued: Type.Optional(Count(0, { description: 'Requests waiting beyond that; more are rejected at once (503 bulkhead-full).', default: DEFAULTS.bulkhead.maxQueued })),
    queueTimeout: Type.Optional(Duration({ description: 'A request waiting longer than this is rejected.', default: DEFAULTS.bulkhead.queueTimeout })),
    partitionBy: Type.Optional(
      Type.String({
        pattern: `^(header:${inner(HEADER_NAME_PATTERN)}|client)$`,
        errorMessage: 'must be header:NAME (such as header:x-tenant-id) or client',
        description: 'One pool per value, each with the limits above: header:NAME (per header value) or client (per client address).',
      }),
    ),
  },
  { description: 'Limit concurrency so one overloaded upstream or tenant cannot take every connection.' },
);

// ---------------------------------------------------------------------------------------------
// Route: shadow
// ---------------------------------------------------------------------------------------------

export const Shadow = Strict(
  {
    upstream: Type.Optional(Reference('Required. The upstream that receives the copies.')),
    percent: Type.Optional(Percent({ description: 'Share of requests mirrored (0-100).', default: DEFAULTS.shadow.percent })),
    compare: Type.Optional(
      Strict(
        {
          ignore: Type.Optional(
            Type.Array(Type.String({ minLength: 1, description: 'A path such as headers.date or body.requestId.' }), {
              uniqueItems: true,
              description: 'Paths left out of the diff.',
              default: [...DEFAULTS.shadow.compare.ignore],
            }),
          ),
          noise: Type.Optional(
            Percent({
              description:
                'Share of compared GET/HEAD requests also sent a second time to the primary (Diffy\'s noise filter): paths that differ between two primary answers, such as timestamps, are learned as noise and not reported as shadow differences. 0 turns it off.',
              default: DEFAULTS.shadow.compare.noise,
            }),
          ),
        },
        { description: 'Diff the shadow\'s status, headers and JSON body against the primary\'s and count the differences. Off when omitted.' },
      ),
    ),
  },
  { description: 'Mirror requests to another upstream, fire-and-forget: the primary never waits for it.' },
);

// ---------------------------------------------------------------------------------------------
// Route: scatterGather
// ---------------------------------------------------------------------------------------------

const ScatterTarget = Strict(
  {
    name: Name('Unique within the route; the key of this target\'s body in the answer.'),
    upstream: Reference('The upstream to call.'),
    path: Type.Optional(
      Type.String({
        pattern: '^/',
        errorMessage: 'must start with /',
        description: 'Path template with {path}, {suffix} (after the matched prefix) and {query}. Omitted: the client\'s path.',
      }),
    ),
    timeout: Type.Optional(Duration({ description: 'Deadline for this target. Omitted or 0s: only the route timeout applies.' })),
    allEndpoints: Type.Optional(Type.Boolean({ description: 'Call every endpoint of the upstream (e.g. shards) instead of one.', default: DEFAULTS.scatterTarget.allEndpoints })),
  },
  { description: 'One call made for each request.' },
);

const Concat = Strict(
  {
    field: Type.String({ minLength: 1, description: 'The array field joined across the answers, e.g. hits.' }),
    sortBy: Type.Optional(Type.String({ minLength: 1, description: 'Sort the joined items by this field. Omitted: target order.' })),
    order: Type.Optional(StringEnum(['asc', 'desc'], { description: 'Sort order.', default: DEFAULTS.scatterGather.concat.order })),
    limit: Type.Optional(Count(1, { description: 'Keep at most this many items. Omitted: all.' })),
  },
  { description: 'How aggregate: concat joins the answers.' },
);

export const ScatterGather = Strict(
  {
    targets: Type.Array(ScatterTarget, { minItems: 1, description: 'Called all at once.' }),
    require: Type.Optional(
      Type.Union([StringEnum(['all', 'any'], { description: 'all or any.' }), Count(1, { description: 'A quorum: at least this many targets.' })], {
        errorMessage: 'must be all, any or a number of targets (at least 1)',
        description: 'What makes the answer a success: all targets, any one, or a quorum count.',
        default: DEFAULTS.scatterGather.require,
      }),
    ),
    aggregate: Type.Optional(
      StringEnum(['group', 'merge', 'concat'], {
        description: 'group: { "<name>": body }; merge: deep JSON merge in target order; concat: join the arrays at concat.field.',
        default: DEFAULTS.scatterGather.aggregate,
      }),
    ),
    concat: Type.Optional(Concat),
  },
  { description: 'Call several upstreams at once and combine the answers. Such a route takes no upstream, retry or hedge.' },
);

// ---------------------------------------------------------------------------------------------
