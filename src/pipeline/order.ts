/**
 * The one order of a route's pipeline, outermost first. Read it as the path a request takes
 * inward; the response travels back out. Why this order: docs/architecture.md.
 *
 * - observe outermost: metrics and the access log see what the client saw, refusals included.
 * - timeout outside everything that waits: the body, queueing, retries, backoff and hedges
 *   (its deadline starts once the body is in; its idle watch runs from the start).
 * - bufferBody before anything shared is taken: a slow body holds no slot, no connection.
 * - bulkhead outside retry: one slot per client request, held across its tries; a full
 *   bulkhead is an immediate 503, never a retryable failure.
 * - shadow after admission: mirrors once per request, not once per try.
 * - retry wraps hedge: both draw on one attempt ledger.
 * - circuitBreaker sees every try and hedge copy; perTryTimeout inside it so a slow try counts.
 */
export const LAYER_ORDER = [
  'observe',
  'timeout',
  'bufferBody',
  'bulkhead',
  'shadow',
  'retry',
  'hedge',
  'circuitBreaker',
  'perTryTimeout',
] as const;

export type LayerName = (typeof LAYER_ORDER)[number];

/** The innermost step: send to one upstream, or fan out to several. */
export type TerminalName = 'forward' | 'scatterGather';
