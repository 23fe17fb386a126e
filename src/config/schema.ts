/**
 * The policy file's schema (version 1), written once in TypeBox. It is both the loader's
 * validator (through Ajv) and the published JSON Schema `schema/policy.schema.json` that editors
 * use for completion and hover help, so every property carries a `description` and its
 * `default`, and every object is closed (`additionalProperties: false`): unknown keys are errors.
 *
 * One section per pattern, in the order of docs/policy.md. Adding a pattern means adding a block
 * here, a normalizer in normalize.ts and a row in the docs.
 *
 * Two things the schema deliberately does NOT say, because they are only known after `defaults`
 * is merged under a route: that `hedge.delay` and `shadow.upstream` are required, and that a
 * route needs an `upstream`. load.ts checks those on the merged route.
 *
 * `errorMessage` is the plain-language message for a value of the wrong shape. Editors that
 * follow VS Code's JSON Schema extensions (the YAML language server does) show it; the loader's
 * Ajv instance registers it as an annotation keyword and uses it too.
 */
import { Type, type Static, type TSchema, type TProperties, type ObjectOptions } from '@sinclair/typebox';
import { DURATION_PATTERN, PERCENTILE_PATTERN, POSITIVE_DURATION_PATTERN, SIZE_PATTERN } from '../util/units.js';
import { ADDRESS_PATTERN, BREAKER_FAILURES, DEFAULTS, ENDPOINT_PATTERN, IDEMPOTENT_METHODS, NAME_PATTERN, RETRY_CONDITIONS } from './defaults.js';

// Vocabulary and built-in defaults live in defaults.ts, which the loader uses without TypeBox.
export { ADDRESS_PATTERN, BREAKER_FAILURES, DEFAULTS, ENDPOINT_PATTERN, IDEMPOTENT_METHODS, NAME_PATTERN, RETRY_CONDITIONS } from './defaults.js';

// ---------------------------------------------------------------------------------------------
// Building blocks
// ---------------------------------------------------------------------------------------------

/** A closed object: the schema rejects any key it doesn't list. */
function Strict<T extends TProperties>(properties: T, options: ObjectOptions & { description: string }) {
  return Type.Object(properties, { ...options, additionalProperties: false });
}

/** A string enum as `{ type: string, enum: [...] }`: one clear Ajv error instead of an anyOf of consts. */
function StringEnum<const T extends readonly string[]>(values: T, options: { description: string; default?: T[number] }) {
  return Type.Unsafe<T[number]>({ type: 'string', enum: [...values], errorMessage: `must be one of ${listOf(values)}`, ...options });
}

/** A mapping from free-form names to values of one schema (upstreams, match headers). */
function MapOf<T extends TSchema>(values: T, options: { description: string; propertyNames: TSchema }) {
  return Type.Unsafe<Record<string, Static<T>>>({ type: 'object', additionalProperties: values, ...options });
}

type Described = { description: string; default?: string };

function Duration(options: Described) {
  return Type.String({ pattern: DURATION_PATTERN, errorMessage: 'must be a duration such as 250ms, 2s or 1m', ...options });
}

function PositiveDuration(options: Described) {
  return Type.String({
    pattern: POSITIVE_DURATION_PATTERN,
    errorMessage: 'must be a duration greater than 0, such as 250ms, 2s or 1m',
    ...options,
  });
}

function Size(options: Described) {
  return Type.String({ pattern: SIZE_PATTERN, errorMessage: 'must be a size such as 512B, 64KiB or 1MiB', ...options });
}

function Count(minimum: number, options: { description: string; default?: number }) {
  return Type.Integer({ minimum, ...options });
}

function Ratio(options: { description: string; default?: number }) {
  return Type.Number({ minimum: 0, maximum: 1, ...options });
}

function Percent(options: { description: string; default?: number }) {
  return Type.Number({ minimum: 0, maximum: 100, ...options });
}

const NAME_MESSAGE = 'must be a name made of letters, digits, ".", "_" and "-", such as catalog-reads';

function Name(description: string) {
  return Type.String({ pattern: NAME_PATTERN, errorMessage: NAME_MESSAGE, description });
}

/** A reference to a name defined elsewhere; load.ts checks that it exists. */
function Reference(description: string) {
  return Type.String({ minLength: 1, description });
}


function Address(options: Described) {
  return Type.String({
    pattern: ADDRESS_PATTERN,
    errorMessage: 'must be host:port, such as 127.0.0.1:15001 or [::1]:15001',
    ...options,
  });
}


/** RFC 9110 token characters. */
const HEADER_NAME_PATTERN = "^[!#$%&'*+.^_`|~0-9A-Za-z-]+$";
const HEADER_NAME_MESSAGE = 'must be a valid HTTP header name, such as x-tenant-id';

const METHOD = Type.String({
  pattern: '^[A-Za-z]+$',
  errorMessage: 'must be an HTTP method such as GET',
  description: 'An HTTP method; case does not matter (upper-cased on load).',
});

function Methods(description: string) {
  return Type.Array(METHOD, { minItems: 1, uniqueItems: true, default: [...IDEMPOTENT_METHODS], description });
}

function listOf(values: readonly (string | number)[]): string {
  const shown = values.map(String);
  return shown.length <= 1 ? shown.join('') : `${shown.slice(0, -1).join(', ')} or ${shown[shown.length - 1]}`;
}

function inner(pattern: string): string {
  return pattern.replace(/^\^/, '').replace(/\$$/, '');
}

// ---------------------------------------------------------------------------------------------
// Top-level settings
// ---------------------------------------------------------------------------------------------

const Admin = Strict(
  {
    address: Type.Optional(
      Address({
        description: 'Where the admin server listens: /healthz /readyz /metrics /config /status. Keep it on loopback.',
        default: DEFAULTS.admin.address,
      }),
    ),
  },
  { description: 'The admin server.', default: DEFAULTS.admin },
);

const Listener = Strict(
  {
    name: Name('Unique name of the listener; routes refer to it with `listener:`.'),
    address: Address({ description: 'host:port to accept HTTP/1.1 on. Port 0 picks a free port (tests).' }),
  },
  { description: 'A port the sidecar accepts requests on: outbound (the app calls out through it) or inbound (it fronts the app).' },
);

// ---------------------------------------------------------------------------------------------
// Upstreams
// ---------------------------------------------------------------------------------------------

const Outlier = Strict(
  {
    consecutiveFailures: Type.Optional(
      Count(1, { description: 'Eject an endpoint after this many failures in a row (5xx, connect failure, reset).', default: DEFAULTS.outlier.consecutiveFailures }),
    ),
    ejectFor: Type.Optional(PositiveDuration({ description: 'How long an ejected endpoint stays out of the balancer.', default: DEFAULTS.outlier.ejectFor })),
    maxEjectedPercent: Type.Optional(
      Percent({ description: 'At most this percentage (0-100) of the endpoints is ejected at once.', default: DEFAULTS.outlier.maxEjectedPercent }),
    ),
  },
  { description: 'Outlier detection: take endpoints that keep failing out of the rotation for a while. Off when omitted.' },
);

const Upstream = Strict(
  {
    endpoints: Type.Array(
      Type.String({
        pattern: ENDPOINT_PATTERN,
        errorMessage: 'must be an http:// URL without a path, such as http://10.0.0.11:8080 (https:// is not supported in v1)',
        description: 'http://host[:port] (port 80 when omitted). A single DNS name is re-resolved into several endpoints.',
      }),
      { minItems: 1, uniqueItems: true, description: 'Where the upstream is: one or more http:// origins.' },
    ),
    balance: Type.Optional(
      StringEnum(['round-robin', 'least-request', 'random'], { description: 'How a request picks an endpoint.', default: DEFAULTS.upstream.balance }),
    ),
    connections: Type.Optional(Count(1, { description: 'Keep-alive connection pool size per endpoint.', default: DEFAULTS.upstream.connections })),
    connectTimeout: Type.Optional(PositiveDuration({ description: 'How long establishing a TCP connection may take.', default: DEFAULTS.upstream.connectTimeout })),
    idleTimeout: Type.Optional(
      PositiveDuration({
        description: 'How long an idle pooled connection is kept. Set it below the app server\'s own keep-alive timeout.',
        default: DEFAULTS.upstream.idleTimeout,
      }),
    ),
    maxResponseHeaderSize: Type.Optional(
      Size({ description: 'Largest response header block accepted from this upstream; more is 502 upstream-reset.', default: DEFAULTS.upstream.maxResponseHeaderSize }),
    ),
    outlier: Type.Optional(Outlier),
  },
  { description: 'A named set of endpoints that routes send requests to.' },
);

// ---------------------------------------------------------------------------------------------
// Route: match
// ---------------------------------------------------------------------------------------------

const PathString = (description: string) => Type.String({ pattern: '^/', errorMessage: 'must start with /', description });

const Match = Strict(
  {
    host: Type.Optional(
      Type.String({
        pattern: '^(\\[[0-9A-Fa-f:.]+\\]|[A-Za-z0-9_.-]+)$',
        errorMessage: 'must be a host name without a port, such as catalog',
        description: 'The Host header (or absolute-form authority) to match, case-insensitive; the request port is ignored.',
      }),
    ),
    path: Type.Optional(PathString('The exact path to match (query string excluded).')),
    pathPrefix: Type.Optional(PathString('A path prefix to match (query string excluded), e.g. /items.')),
    pathRegex: Type.Optional(
      Type.String({
        minLength: 1,
        description: 'A JavaScript regular expression tested against the path (query excluded). Anchor it with ^ and $ for a full match.',
      }),
    ),
    methods: Type.Optional(
      Type.Array(METHOD, { minItems: 1, uniqueItems: true, description: 'Match only these methods (any method when omitted).' }),
    ),
    headers: Type.Optional(
      MapOf(Type.String({ description: 'The exact value; quote numbers, e.g. "1".' }), {
        description: 'Request headers that must all be present with exactly these values; names are case-insensitive.',
        propertyNames: Type.String({ pattern: HEADER_NAME_PATTERN, errorMessage: HEADER_NAME_MESSAGE }),
      }),
    ),
  },
  { description: 'What requests the route takes. Give at most one of path, pathPrefix and pathRegex; an empty match takes every request.' },
);

// ---------------------------------------------------------------------------------------------
// Route: retry
// ---------------------------------------------------------------------------------------------

const RetryCondition = Type.Union(
  [
    Type.Integer({ minimum: 100, maximum: 599, description: 'An HTTP status code.' }),
    StringEnum(RETRY_CONDITIONS, { description: 'A class of failure: 5xx, gateway-error (502, 503, 504), connect-failure, reset, timeout.' }),
  ],
  { errorMessage: `must be one of ${listOf(RETRY_CONDITIONS)}, or an HTTP status code such as 503` },
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

const Retry = Strict(
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

const Hedge = Strict(
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

const CircuitBreaker = Strict(
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
      Type.Array(StringEnum(BREAKER_FAILURES, { description: 'A class of failure.' }), {
        minItems: 1,
        uniqueItems: true,
        description: 'What counts as a failure.',
        default: [...DEFAULTS.circuitBreaker.failOn],
      }),
    ),
  },
  { description: 'One breaker per route and upstream: fail fast (503 circuit-open) while the upstream is failing.' },
);

// ---------------------------------------------------------------------------------------------
// Route: bulkhead
// ---------------------------------------------------------------------------------------------

const Bulkhead = Strict(
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

const Shadow = Strict(
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

const ScatterGather = Strict(
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
// Routes and defaults
// ---------------------------------------------------------------------------------------------

/** The policy blocks `defaults` may carry; each is merged under every route. */
function policyBlocks() {
  return {
    upstream: Type.Optional(Reference('The upstream that receives the requests.')),
    timeout: Type.Optional(
      Duration({
        description: 'Deadline of the exchange, counted from the end of the request body; bounds every try, wait and hedge and the response body (504 timeout). 0s: no deadline (streams).',
        default: DEFAULTS.route.timeout,
      }),
    ),
    idleTimeout: Type.Optional(
      Duration({
        description: 'No bytes either way for this long ends the exchange: 408/504 before the response headers, a reset after them. 0s: never.',
        default: DEFAULTS.route.idleTimeout,
      }),
    ),
    retry: Type.Optional(Retry),
    hedge: Type.Optional(Hedge),
    circuitBreaker: Type.Optional(CircuitBreaker),
    bulkhead: Type.Optional(Bulkhead),
    shadow: Type.Optional(Shadow),
  };
}

const Route = Strict(
  {
    name: Name('Unique name of the route; state (breakers, budgets, latency) is kept by it across reloads.'),
    listener: Type.Optional(Reference('Only requests arriving on this listener. Omitted: every listener.')),
    match: Type.Optional(Match),
    ...policyBlocks(),
    scatterGather: Type.Optional(ScatterGather),
  },
  { description: 'A route: the first one that matches a request, in file order, handles it.' },
);

const Defaults = Strict(policyBlocks(), {
  description: 'Merged under every route, block by block: a route\'s own keys win, lists replace. A scatterGather route ignores upstream, retry and hedge from here.',
});

// ---------------------------------------------------------------------------------------------
// The policy file
// ---------------------------------------------------------------------------------------------

export const PolicySchema = Strict(
  {
    version: Type.Literal(1, { description: 'The policy format version; must be 1.', errorMessage: 'must be 1 (the only policy version this sidecar understands)' }),
    admin: Type.Optional(Admin),
    drainTimeout: Type.Optional(Duration({ description: 'On SIGTERM, how long in-flight requests may finish.', default: DEFAULTS.drainTimeout })),
    replayBodyLimit: Type.Optional(
      Size({ description: 'Largest request body kept for retry, hedge and shadow; above it those step aside for that request.', default: DEFAULTS.replayBodyLimit }),
    ),
    accessLog: Type.Optional(StringEnum(['stdout', 'off'], { description: 'One JSON line per request on stdout, or off.', default: DEFAULTS.accessLog })),
    listeners: Type.Array(Listener, { minItems: 1, description: 'Where requests come in.' }),
    upstreams: MapOf(Upstream, {
      description: 'Named upstreams, referred to by routes, shadows and scatter targets.',
      propertyNames: Type.String({ pattern: NAME_PATTERN, errorMessage: NAME_MESSAGE }),
    }),
    defaults: Type.Optional(Defaults),
    routes: Type.Array(Route, { minItems: 1, description: 'First match wins, in file order.' }),
  },
  { title: 'Outrider policy', description: 'The Outrider sidecar policy file, version 1. See docs/policy.md.' },
);

/** The validated document, before `defaults` are merged and units converted. */
export type PolicyDocument = Static<typeof PolicySchema>;
export type RouteDocument = PolicyDocument['routes'][number];
export type DefaultsDocument = NonNullable<PolicyDocument['defaults']>;
export type UpstreamDocument = PolicyDocument['upstreams'][string];

/** The JSON Schema as published in schema/policy.schema.json (plain JSON, no TypeBox symbols). */
export function policyJsonSchema(): Record<string, unknown> {
  const plain = JSON.parse(JSON.stringify(PolicySchema)) as Record<string, unknown>;
  return { $schema: 'http://json-schema.org/draft-07/schema#', ...plain };
}

/** The committed file's exact text (two-space JSON plus a final newline). */
export function policyJsonSchemaText(): string {
  return `${JSON.stringify(policyJsonSchema(), null, 2)}\n`;
}
