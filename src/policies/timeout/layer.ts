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
 *   answer, a reset once the answer has begun (the connection, or on HTTP/2 the stream). It
 *   watches the client connection's byte counters (an HTTP/2 stream's own count), so it costs
 *   next to nothing per chunk.
 * - For an upgrade, `timeout` covers the handshake only and `idleTimeout` the tunnel.
 * - A gRPC call's `grpc-timeout` caps the route timeout (traffic.md, gRPC). It is the client's
 *   deadline for the whole call, so it counts from arrival, streaming bodies included.
 */
import { OutriderError } from '../../errors.js';
import type { LayerContext } from '../../pipeline/contract.js';
import { withSignal } from '../../pipeline/layer.js';
import { IdleSweeper, unwatchIdle, type IdleWatched } from '../../pipeline/idle-watch.js';
import { LinkedScope } from '../../pipeline/signal.js';
import type { Exchange, Layer } from '../../pipeline/layer.js';
import type { RoutePolicy } from '../../config/types.js';
import type { Clock } from '../../util/clock.js';
import { Deadline, DeadlineQueue } from '../../util/deadline-queue.js';
import { parseGrpcTimeoutMs } from '../../grpc/status.js';

export function timeoutLayer(policy: RoutePolicy, context: Pick<LayerContext, 'clock'>): Layer | undefined {
  // Built even with both clocks off: a gRPC call's grpc-timeout still applies.
  const clock = context.clock;
  const deadlines = new DeadlineQueue(clock);
  const idle = policy.idleTimeoutMs > 0 ? new IdleSweeper(clock, policy.idleTimeoutMs) : undefined;
  return (next) =>
    function timeout(exchange: Exchange) {
      const timers = new ExchangeTimers(policy, exchange, clock, deadlines, idle);
      const answer = next(withSignal(exchange, timers.scope));
      if (exchange.request.upgrade === undefined) return answer;
      // An upgrade's timeout covers the handshake only; the tunnel has idleTimeout.
      return answer.then((response) => {
        timers.handshakeDone();
        return response;
      });
    };
}

/**
 * One exchange's deadline and idle watch: one object per request (it is also what the
 * deadline queue and the idle sweeper hold), so the per-request cost stays an allocation, a
 * queue entry and an idle-list entry.
 */
class ExchangeTimers extends Deadline implements IdleWatched {
  readonly scope: LinkedScope;
  idleLast = 0;
  idleMovedAt = 0;
  idleSweeper: IdleWatched['idleSweeper'] = undefined;
  idleEarlier: IdleWatched | undefined = undefined;
  idleLater: IdleWatched | undefined = undefined;
  readonly #policy: RoutePolicy;
  readonly #exchange: Exchange;
  readonly #clock: Clock;
  readonly #deadlines: DeadlineQueue;
  #deadlineArmed = false;
  #grpcDeadline: NodeJS.Timeout | undefined;

  constructor(policy: RoutePolicy, exchange: Exchange, clock: Clock, deadlines: DeadlineQueue, idle: IdleSweeper | undefined) {
    super();
    this.scope = new LinkedScope(exchange.signal);
    this.#policy = policy;
    this.#exchange = exchange;
    this.#clock = clock;
    this.#deadlines = deadlines;
    const { request, ledger } = exchange;
    if (policy.timeoutMs > 0) {
      if (request.body === null || Buffer.isBuffer(request.body) || request.incoming.readableEnded) this.#armDeadline();
      else request.incoming.once('end', () => this.#armDeadline());
    }
    const grpcTimeoutMs = request.grpc ? parseGrpcTimeoutMs(request.incoming.headers['grpc-timeout']) : undefined;
    if (grpcTimeoutMs !== undefined && (policy.timeoutMs <= 0 || grpcTimeoutMs < policy.timeoutMs)) {
      ledger.deadline = clock.now() + grpcTimeoutMs;
      this.#grpcDeadline = clock.setTimeout(() => this.#expire(`the call's grpc-timeout of ${grpcTimeoutMs} ms passed`), grpcTimeoutMs);
    }
    idle?.watch(this);
    ledger.onFinish(this.#finish);
  }

  handshakeDone(): void {
    this.#deadlines.remove(this);
  }

  idleBytes(): number {
    return this.#exchange.request.client.bytesMoved();
  }

  onIdle(): void {
    const { request } = this.#exchange;
    const bodyDue = request.body !== null && !request.incoming.complete;
    const message = `route ${this.#policy.name}: no bytes either way for ${this.#policy.idleTimeoutMs} ms (idleTimeout)`;
    this.#end(new OutriderError(bodyDue ? 'request-timeout' : 'timeout', message, this.#errorContext()));
  }

  #armDeadline(): void {
    const { ledger } = this.#exchange;
    if (this.#deadlineArmed || ledger.finished) return;
    this.#deadlineArmed = true;
    const { timeoutMs } = this.#policy;
    ledger.deadline = Math.min(ledger.deadline, this.#clock.now() + timeoutMs);
    this.#deadlines.add(this, timeoutMs);
  }

  onDeadline(): void {
    this.#expire(`timed out after ${this.#policy.timeoutMs} ms`);
  }

  #expire(why: string): void {
    this.#end(new OutriderError('timeout', `route ${this.#policy.name} ${why}`, this.#errorContext()));
  }

  /**
   * Stop the exchange. Once the answer has begun (observe set its status), the client may sit
   * on buffered bytes of an upstream that is already done: cut its connection (HTTP/2: reset
   * its stream with CANCEL), first, so the client learns it was a cancel rather than the
   * broken-body error the abort makes the sink send; the log says why.
   */
  #end(error: OutriderError): void {
    const { request, ledger } = this.#exchange;
    if (ledger.status !== 0) {
      ledger.errorCode ??= error.code;
      request.client.reset();
    }
    this.scope.abort(error);
  }

  readonly #finish = (): void => {
    this.#deadlines.remove(this);
    clearTimeout(this.#grpcDeadline);
    unwatchIdle(this);
    this.scope.release();
  };

  #errorContext() {
    return { route: this.#policy.name, upstream: this.#exchange.ledger.upstream };
  }
}
