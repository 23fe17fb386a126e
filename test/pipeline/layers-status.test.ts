/**
 * A route's active layers, as /status lists them, follow LAYER_ORDER: the bulkhead outside
 * retry (one slot per client request), the breaker inside it (it sees every try).
 */
import t from 'tap';
import { LAYER_ORDER } from '../../src/pipeline/layers.js';
import { simplePolicy, startSidecar } from '../helpers/sidecar.js';
import { startUpstream } from '../helpers/upstream.js';

t.test('a route with bulkhead and circuitBreaker lists them on /status in LAYER_ORDER order', async (t) => {
  const upstream = await startUpstream();
  const proxy = await startSidecar(
    simplePolicy(
      upstream.url,
      `    timeout: 2s
    circuitBreaker: { minRequests: 5 }
    bulkhead: { maxConcurrent: 4, maxQueued: 0 }
    retry: { attempts: 2 }
`,
    ),
  );
  t.teardown(async () => {
    await proxy.close();
    await upstream.close();
  });

  const status = (await proxy.admin('/status')).json() as {
    routes: { name: string; layers: string[]; circuitBreaker?: { state: string }; bulkhead?: { maxConcurrent: number } }[];
  };
  const route = status.routes[0];
  t.same(route?.layers, ['observe', 'timeout', 'bufferBody', 'bulkhead', 'retry', 'circuitBreaker', 'forward']);
  const positions = (route?.layers ?? []).slice(0, -1).map((name) => LAYER_ORDER.indexOf(name as (typeof LAYER_ORDER)[number]));
  t.ok(
    positions.every((p, i) => p >= 0 && (i === 0 || p > (positions[i - 1] ?? -1))),
    'every layer is in LAYER_ORDER, in its order',
  );
  t.equal(route?.circuitBreaker?.state, 'closed', 'the breaker shows its live state under its own key');
  t.equal(route?.bulkhead?.maxConcurrent, 4, 'the bulkhead shows its occupancy under its own key');
});
