/**
 * perTryTimeout (`retry.perTryTimeout`): bounds one try, from sending to the response headers.
 * Innermost, inside the circuit breaker, so a try that times out is a breaker failure
 * (`failOn: timeout`) and a retryable condition (`retry.on: timeout`). Once headers have
 * arrived the try has answered; the body is bounded by the route timeout alone.
 */
import { OutriderError } from '../../errors.js';
import type { RoutePolicy } from '../../config/types.js';
import type { LayerContext } from '../../pipeline/contract.js';
import { withSignal } from '../../pipeline/layer.js';
import type { Exchange, Layer, ProxyResponse } from '../../pipeline/layer.js';
import { CancelScope } from '../../pipeline/signal.js';

export function perTryTimeoutLayer(route: RoutePolicy, context: Pick<LayerContext, 'clock'>): Layer | undefined {
  const limitMs = route.retry?.perTryTimeoutMs;
  if (limitMs === undefined || limitMs <= 0) return undefined;
  return (next) =>
    function perTryTimeout(exchange: Exchange): Promise<ProxyResponse> {
      const scope = CancelScope.linkedTo(exchange.signal);
      const timer = context.clock.setTimeout(() => {
        scope.abort(
          new OutriderError('timeout', `try ${exchange.ledger.tries} of route ${route.name} timed out after ${limitMs} ms (perTryTimeout)`, {
            route: route.name,
            upstream: exchange.ledger.upstream,
          }),
        );
      }, limitMs);
      exchange.ledger.onFinish(() => scope.release());
      const settle = (): void => clearTimeout(timer);
      const attempt = next(withSignal(exchange, scope));
      attempt.then(settle, settle);
      return attempt;
    };
}
