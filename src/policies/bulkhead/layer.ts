/**
 * bulkhead: at most `maxConcurrent` client requests of the route in flight, `maxQueued` more
 * waiting for at most `queueTimeout`; beyond that 503 `bulkhead-full` at once. It sits outside
 * retry and hedge, so a request holds one slot for its whole life, across all its tries, until
 * its response has been fully written (or the client went away); a full bulkhead is a refusal
 * that retry never retries, and queue waits never add up over tries. The route timeout sits
 * outside it and bounds the queue wait too.
 *
 * With `partitionBy` (`header:NAME` or `client`) every key gets its own pool with the same
 * limits, so one tenant's flood queues only that tenant. Requests without the header share the
 * default pool; at most MAX_PARTITIONS keyed pools exist at once (idle ones are dropped), and
 * keys beyond that share one overflow pool, so a flood of distinct keys cannot grow memory.
 * Metrics carry the route only (no tenant label, so their cardinality is bounded by the
 * policy); /status shows the busiest partitions.
 */
import type { BulkheadPolicy, PartitionKey, RoutePolicy } from '../../config/types.js';
import { OutriderError } from '../../errors.js';
import type { LayerContext } from '../../pipeline/contract.js';
import type { Exchange, Handler, Layer, ProxyRequest, ProxyResponse } from '../../pipeline/layer.js';
import { stateKey } from '../../state/registry.js';
import { BulkheadPartitions, BulkheadRejection, type BulkheadPool, type BulkheadRecorder } from './pool.js';

/** Keyed pools at most per route; more keys share the overflow pool. */
export const MAX_PARTITIONS = 1024;
/** Partitions listed on /status, busiest first. */
export const STATUS_TOP_PARTITIONS = 10;
/** Longer header values are cut, so a hostile value cannot make a large map key. */
const MAX_KEY_LENGTH = 256;

/** What the bulkhead reports to metrics; implemented by observability/metrics.ts. */
export interface BulkheadMetrics {
  bulkheadRecorder(route: string): BulkheadRecorder;
}

export function bulkheadLayer(route: RoutePolicy, context: LayerContext<BulkheadMetrics>): Layer | undefined {
  const policy = route.bulkhead;
  if (policy === undefined) return undefined;
  // Keyed by the settings too: a changed block starts with fresh pools, an unchanged one keeps
  // its occupancy across a reload (requests in flight still hold their slots).
  const partitions = context.registry.acquire(stateKey('bulkhead', route.name, policy), () =>
    new BulkheadPartitions(policy, context.metrics.bulkheadRecorder(route.name), MAX_PARTITIONS, context.clock),
  );
  context.status('bulkhead', () => bulkheadStatus(policy, partitions));
  const keyOf = partitionKeyReader(policy.partitionBy);
  return (next) =>
    function bulkhead(exchange: Exchange): Promise<ProxyResponse> {
      const pool = partitions.poolFor(keyOf(exchange.request));
      let slot: true | Promise<void>;
      try {
        slot = pool.acquire(exchange.signal);
      } catch (err) {
        return Promise.reject(refusal(err, route, pool));
      }
      if (slot === true) return admitted(pool, exchange, next);
      return slot.then(
        () => admitted(pool, exchange, next),
        (err: unknown) => {
          throw refusal(err, route, pool);
        },
      );
    };
}

/** The slot is the request's until its response is fully written or the client has gone. */
function admitted(pool: BulkheadPool, exchange: Exchange, next: Handler): Promise<ProxyResponse> {
  exchange.ledger.onFinish(pool.release);
  return next(exchange);
}

/** A pool's rejection becomes `bulkhead-full`; an abort while queued (client gone, deadline) passes through. */
function refusal(err: unknown, route: RoutePolicy, pool: BulkheadPool): unknown {
  if (!(err instanceof BulkheadRejection)) return err;
  const where = route.bulkhead?.partitionBy === undefined ? '' : ` (partition ${pool.key})`;
  return new OutriderError('bulkhead-full', `bulkhead full for route ${route.name}${where}: ${err.message}`, {
    route: route.name,
    upstream: route.upstream,
  });
}

/** The partition key of a request: a header's value or the client address; undefined → default pool. */
export function partitionKeyReader(partitionBy: PartitionKey | undefined): (request: ProxyRequest) => string | undefined {
  if (partitionBy === undefined) return () => undefined;
  if (partitionBy.kind === 'client') return (request) => request.clientAddress;
  const name = partitionBy.header;
  return (request) => {
    const value = request.incoming.headers[name];
    const text = Array.isArray(value) ? value[0] : value;
    return text === undefined ? undefined : text.slice(0, MAX_KEY_LENGTH);
  };
}

function bulkheadStatus(policy: BulkheadPolicy, partitions: BulkheadPartitions): Record<string, unknown> {
  return {
    maxConcurrent: policy.maxConcurrent,
    maxQueued: policy.maxQueued,
    queueTimeoutMs: policy.queueTimeoutMs,
    partitionBy: describePartitionKey(policy.partitionBy),
    ...partitions.totals(),
    rejected: { ...partitions.rejections },
    partitions: partitions.size,
    busiest: partitions.top(STATUS_TOP_PARTITIONS),
  };
}

function describePartitionKey(partitionBy: PartitionKey | undefined): string | null {
  if (partitionBy === undefined) return null;
  return partitionBy.kind === 'client' ? 'client' : `header:${partitionBy.header}`;
}
