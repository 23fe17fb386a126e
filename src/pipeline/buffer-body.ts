/**
 * bufferBody: a request body up to `replayBodyLimit` is received in full before the request
 * takes a bulkhead slot or an upstream connection (nginx's `proxy_request_buffering`), so a
 * client trickling its body holds nothing shared (issue 11: 200 slow-body clients starved the
 * upstream's pool). A larger body streams as it arrives. The read obeys the exchange's signal:
 * an idle client (idleTimeout) or a client gone ends it.
 */
import type { Layer } from './layer.js';
import { isReplayable, replayable } from './replay.js';

export function bufferBodyLayer(limitBytes: number): Layer | undefined {
  if (limitBytes <= 0) return undefined;
  return (next) =>
    function bufferBody(exchange) {
      // Not async: most requests have no body, and a promise per request is a cost.
      if (isReplayable(exchange.request.body)) return next(exchange);
      return replayable(exchange, limitBytes).then(next);
    };
}
