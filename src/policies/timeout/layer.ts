/**
 * timeout and idleTimeout, the route's two clocks (docs/policy.md, "timeout"):
 *
 * - `timeout` is a deadline counted from the end of the request body (Envoy's meaning), so a
 *   slow upload does not count against it. It bounds queueing, every try, backoff, hedges and
 *   the response body; when it passes, the signal every inner layer and try listens to is
 *   aborted, so the work is really cancelled, and the client gets 504 `timeout` (or, once the
 *   headers are out, a cut connection). `0s` disables it: streams rely on idleTimeout.
 * - `idleTimeout` ends an exchange that moved no bytes either way for that long: 408
 *   `request-timeout` while the request body is still due, 504 `timeout` while waiting for the
 *   answer, a reset once the answer has begun. It watches the client connection's byte
 *   counters, so it costs nothing per chunk.
 * - For an upgrade, `timeout` covers the handshake only and `idleTimeout` the tunnel.
 */
import { OutriderError } from '../../errors.js';
import type { LayerContext } from '../../pipeline/contract.js';
import { withSignal } from '../../pipeline/layer.js';
import { IdleWatch } from '../../pipeline/idle-watch.js';
import { CancelScope } from '../../pipeline/signal.js';
import type { Exchange, Layer } from '../../pipeline/layer.js';
import type { RoutePolicy } from '../../config/types.js';

export function timeoutLayer(policy: RoutePolicy, context: Pick<LayerContext, 'clock'>): Layer | undefined {
  const { timeoutMs, idleTimeoutMs } = policy;
  const clock = context.clock;
  if (timeoutMs <= 0 && idleTimeoutMs <= 0) return undefined;
  return (next) =>
    function timeout(exchange: Exchange) {
      const { scope, release } = CancelScope.linkedTo(exchange.signal);
      const { ledger, request } = exchange;
      const context = () => ({ route: policy.name, upstream: ledger.upstream });
      let deadline: NodeJS.Timeout | undefined;
      const armDeadline = (): void => {
        if (deadline !== undefined || ledger.finished) return;
        ledger.deadline = clock.now() + timeoutMs;
        deadline = clock.setTimeout(() => {
          scope.abort(new OutriderError('timeout', `route ${policy.name} timed out after ${timeoutMs} ms`, context()));
        }, timeoutMs);
      };
      if (timeoutMs > 0) {
        const incoming = request.incoming;
        if (request.body === null || Buffer.isBuffer(request.body) || incoming.readableEnded) armDeadline();
        else incoming.once('end', armDeadline);
      }
      const idle =
        idleTimeoutMs <= 0
          ? undefined
          : new IdleWatch(clock, idleTimeoutMs, connectionBytes(exchange), () => {
              const bodyDue = request.body !== null && !request.incoming.complete;
              const message = `route ${policy.name}: no bytes either way for ${idleTimeoutMs} ms (idleTimeout)`;
              scope.abort(new OutriderError(bodyDue ? 'request-timeout' : 'timeout', message, context()));
              // Once the answer has begun (observe set its status), the abort above may find the
              // upstream already done while the client sits on buffered bytes: cut the connection.
              if (ledger.status !== 0) request.incoming.socket.destroy();
            });
      ledger.onFinish(() => {
        clearTimeout(deadline);
        idle?.stop();
        release();
      });
      const answer = next(withSignal(exchange, scope));
      if (request.upgrade === undefined) return answer;
      // An upgrade's timeout covers the handshake only; the tunnel has idleTimeout.
      return answer.then((response) => {
        clearTimeout(deadline);
        return response;
      });
    };
}

/** Bytes read from and written to the client connection so far: what "idle" is measured on. */
function connectionBytes(exchange: Exchange): () => number {
  const socket = exchange.request.incoming.socket;
  return () => socket.bytesRead + socket.bytesWritten;
}
