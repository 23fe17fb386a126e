/**
 * The bulkhead's pools without HTTP: slots, the FIFO queue, give-ups, partitions and eviction,
 * asserted by counts and order of events.
 */
import t from 'tap';
import { BulkheadPartitions, BulkheadPool, BulkheadRejection, type BulkheadRecorder, type RejectReason } from '../../../src/policies/bulkhead/pool.js';
import { CancelScope } from '../../../src/pipeline/signal.js';

function recorder() {
  const seen = { inFlight: 0, queued: 0, partitions: 0, rejected: [] as RejectReason[] };
  const r: BulkheadRecorder = {
    inFlight: (d) => void (seen.inFlight += d),
    queued: (d) => void (seen.queued += d),
    partitions: (d) => void (seen.partitions += d),
    rejected: (reason) => void seen.rejected.push(reason),
  };
  return { seen, r };
}

const LIMITS = { maxConcurrent: 2, maxQueued: 1, queueTimeoutMs: 60_000 };

t.test('takes slots up to maxConcurrent, queues up to maxQueued, refuses beyond at once', async (t) => {
  const { seen, r } = recorder();
  const pool = new BulkheadPool('p', LIMITS, r);
  t.equal(pool.acquire(new CancelScope()), true);
  t.equal(pool.acquire(new CancelScope()), true);
  const waiting = pool.acquire(new CancelScope());
  t.type(waiting, Promise);
  t.throws(() => pool.acquire(new CancelScope()), new BulkheadRejection('queue-full', '2/2 in flight, 1/1 queued'));
  t.same(seen, { inFlight: 2, queued: 1, partitions: 0, rejected: ['queue-full'] });
  pool.release();
  await waiting;
  t.same([pool.inFlight, pool.queued], [2, 0], 'the waiter got the freed slot');
  pool.release();
  pool.release();
  t.same([pool.inFlight, seen.inFlight, seen.queued], [0, 0, 0]);
});

t.test('waiters are served first in, first out', async (t) => {
  const { r } = recorder();
  const pool = new BulkheadPool('p', { maxConcurrent: 1, maxQueued: 3, queueTimeoutMs: 60_000 }, r);
  pool.acquire(new CancelScope());
  const order: number[] = [];
  const waits = [1, 2, 3].map((n) => (pool.acquire(new CancelScope()) as Promise<void>).then(() => order.push(n)));
  for (let i = 0; i < 3; i++) {
    pool.release();
    await waits[i];
  }
  t.same(order, [1, 2, 3]);
});

t.test('a waiter whose signal aborts leaves the queue at once with the abort reason', async (t) => {
  const { seen, r } = recorder();
  const pool = new BulkheadPool('p', { maxConcurrent: 1, maxQueued: 1, queueTimeoutMs: 60_000 }, r);
  pool.acquire(new CancelScope());
  const client = new CancelScope();
  const waiting = pool.acquire(client) as Promise<void>;
  client.abort(new Error('client gone'));
  await t.rejects(waiting, { message: 'client gone' });
  t.equal(pool.queued, 0);
  t.equal(seen.queued, 0);
  const next = pool.acquire(new CancelScope());
  t.type(next, Promise, 'its place in the queue is free again');
  pool.release();
  await next;
  t.equal(pool.inFlight, 1, 'the slot went to the live waiter, not the one that left');
});

t.test('queue timeout rejects with queue-timeout and frees the place', async (t) => {
  const { seen, r } = recorder();
  const pool = new BulkheadPool('p', { maxConcurrent: 1, maxQueued: 1, queueTimeoutMs: 5 }, r);
  pool.acquire(new CancelScope());
  const waiting = pool.acquire(new CancelScope()) as Promise<void>;
  await t.rejects(waiting, { name: 'BulkheadRejection', reason: 'queue-timeout', message: 'waited 5 ms in the queue (1/1 in flight, 0/1 queued)' });
  t.same(seen.rejected, ['queue-timeout']);
  t.equal(pool.queued, 0);
});

t.test('queueTimeout 0 means no waiting: a full pool refuses at once', async (t) => {
  const { r } = recorder();
  const pool = new BulkheadPool('p', { maxConcurrent: 1, maxQueued: 10, queueTimeoutMs: 0 }, r);
  pool.acquire(new CancelScope());
  t.throws(() => pool.acquire(new CancelScope()), new BulkheadRejection('queue-full', '1/1 in flight, 0/10 queued'));
});

t.test('partitions: one pool per key, the default for no key, evicted when idle', async (t) => {
  const { seen, r } = recorder();
  const partitions = new BulkheadPartitions(LIMITS, r, 2);
  const a = partitions.poolFor('tenant-a');
  t.equal(partitions.poolFor('tenant-a'), a, 'the same key finds the same pool');
  t.equal(partitions.poolFor(undefined), partitions.poolFor(''), 'no key and an empty key share the default pool');
  t.equal(partitions.poolFor(undefined).key, '(default)');
  a.acquire(new CancelScope());
  a.acquire(new CancelScope());
  const b = partitions.poolFor('tenant-b');
  t.not(b, a);
  t.equal(b.acquire(new CancelScope()), true, "tenant B takes a slot at once while A's pool is full");
  t.same([partitions.size, seen.partitions], [2, 2]);

  const overflow = partitions.poolFor('tenant-c');
  t.equal(overflow.key, '(overflow)', 'beyond maxPartitions, keys share the overflow pool');
  t.equal(partitions.poolFor('tenant-d'), overflow);

  b.release();
  t.same([partitions.size, seen.partitions], [1, 1], "B's idle pool was evicted");
  t.not(partitions.poolFor('tenant-b'), b, 'a later request for B gets a fresh pool');
  t.same(
    partitions.top(10).map((p) => [p.key, p.inFlight]),
    [
      ['tenant-a', 2],
      ['(default)', 0],
    ],
  );
  t.same(partitions.totals(), { inFlight: 2, queued: 0 });
});

t.test('partitions: a keyed pool whose last waiter gave up is evicted', async (t) => {
  const { r } = recorder();
  const partitions = new BulkheadPartitions({ maxConcurrent: 1, maxQueued: 1, queueTimeoutMs: 60_000 }, r, 10);
  const a = partitions.poolFor('a');
  a.acquire(new CancelScope());
  const client = new CancelScope();
  const waiting = a.acquire(client) as Promise<void>;
  a.release(); // the waiter takes the slot
  await waiting;
  a.release();
  t.equal(partitions.size, 0);
  t.same(partitions.rejections, { 'queue-full': 0, 'queue-timeout': 0 });
});
