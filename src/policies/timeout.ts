/**
 * timeout: bounds the whole exchange (queueing, every try, backoff and hedges) with the
 * route's `timeout`. When the deadline passes it aborts the signal that every inner layer and
 * try listens to, so the work is really cancelled (not merely raced), and the client gets
 * 504 `timeout`. The deadline stays armed while the body streams: a body still arriving at
 * the deadline is cut, as Envoy's route timeout does. `timeout: 0s` disables it.
 */
import { performance } from 'node:perf_hooks';
import { OutriderError } from '../errors.js';
import { withSignal } from '../pipeline/exchange.js';
import { CancelScope } from '../pipeline/signal.js';
import type { Exchange, Layer } from '../pipeline/layer.js';
import type { RoutePolicy } from '../config/types.js';

export function timeoutLayer(policy: RoutePolicy): Layer | undefined {
  const timeoutMs = policy.timeoutMs;
  if (timeoutMs <= 0) return undefined;
  return (next) =>
    function timeout(exchange: Exchange) {
      const { scope: deadline, release } = CancelScope.linkedTo(exchange.signal);
      exchange.ledger.deadline = performance.now() + timeoutMs;
      const timer = setTimeout(() => {
        deadline.abort(
          new OutriderError('timeout', `route ${policy.name} timed out after ${timeoutMs} ms`, {
            route: policy.name,
            upstream: exchange.ledger.upstream,
          }),
        );
      }, timeoutMs);
      exchange.ledger.onFinish(() => {
        clearTimeout(timer);
        release();
      });
      return next(withSignal(exchange, deadline));
    };
}
