/**
 * The policy's vocabulary and built-in defaults, without TypeBox: the loader and normalizer
 * need these at start-up, while the TypeBox schema (schema.ts, ~0.2 s to import) is only needed
 * to compile the validator, which the build does ahead of time.
 */

/** Methods that are safe to send twice (RFC 9110 idempotent methods). */
export const IDEMPOTENT_METHODS = ['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE'] as const;

export const RETRY_CONDITIONS = ['connect-failure', 'reset', 'timeout', '5xx', 'gateway-error'] as const;
export const BREAKER_FAILURES = ['5xx', 'connect-failure', 'reset', 'timeout'] as const;

/**
 * The built-in defaults, in the file's own notation, for every key a user may omit. One table:
 * the schema's `default` annotations (what editors show), normalize.ts and docs/policy.md all
 * follow it. Route-level blocks get these only after `defaults:` has been merged in.
 */
export const DEFAULTS = {
  admin: { address: '127.0.0.1:9901' },
  drainTimeout: '20s',
  replayBodyLimit: '1MiB',
  accessLog: 'stdout',
  upstream: { balance: 'round-robin', connections: 128, connectTimeout: '1s', idleTimeout: '4s', maxResponseHeaderSize: '64KiB' },
  outlier: { consecutiveFailures: 5, ejectFor: '30s', maxEjectedPercent: 50 },
  route: { timeout: '15s', idleTimeout: '5m' },
  retry: {
    attempts: 2,
    on: ['connect-failure', 'reset', 502, 503, 504],
    backoff: { base: '25ms', max: '250ms' },
    budget: { ratio: 0.2, minPerSecond: 10 },
    methods: IDEMPOTENT_METHODS,
  },
  hedge: { minDelay: '2ms', maxAttempts: 2, budget: { ratio: 0.05 }, methods: IDEMPOTENT_METHODS },
  circuitBreaker: { failureRatio: 0.5, minRequests: 20, window: '10s', openFor: '5s', halfOpenRequests: 3, failOn: BREAKER_FAILURES },
  bulkhead: { maxConcurrent: 64, maxQueued: 128, queueTimeout: '50ms' },
  shadow: { percent: 100, compare: { ignore: [] as readonly string[], noise: 0 } },
  scatterGather: { require: 'all', aggregate: 'group', concat: { order: 'desc' } },
  scatterTarget: { allEndpoints: false },
} as const;

/** Listener, route, upstream and target names: they end up in metrics labels, headers and JSON keys. */
export const NAME_PATTERN = '^[A-Za-z0-9][A-Za-z0-9._-]*$';
/** `127.0.0.1:15001`, `0.0.0.0:15006`, `localhost:9901`, `[::1]:15001`. Port range is checked in load.ts. */
export const ADDRESS_PATTERN = '^(\\[[0-9A-Fa-f:.]+\\]|[A-Za-z0-9_.-]+):[0-9]{1,5}$';
/** A CONNECT target to allow: `host:port`, `*` for any host or any port. */
export const CONNECT_TARGET_PATTERN = '^(\\*|\\[[0-9A-Fa-f:.]+\\]|[A-Za-z0-9_.-]+):(\\*|[0-9]{1,5})$';
/** `http://host[:port]` or `https://host[:port]` with an optional trailing slash; no path. */
export const ENDPOINT_PATTERN = '^https?://(\\[[0-9A-Fa-f:.]+\\]|[A-Za-z0-9_.-]+)(:[0-9]{1,5})?/?$';
