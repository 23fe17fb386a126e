/**
 * Limits against slow, greedy or hostile clients (docs/security.md), and the node:http server
 * options that enforce them.
 */
/**
 * Limits against slow, greedy or hostile clients (docs/security.md). Constants, not policy
 * keys; `Sidecar.start` takes overrides for tests and embedders. The values follow Envoy's
 * edge guidance where it gives one.
 */
export interface ListenerLimits {
  /** Header fields per request; more is 431 headers-too-large. (node's maxHeadersCount only truncates.) */
  readonly maxHeaders: number;
  /** Bytes of request line and headers together (llhttp's limit); more is 431 headers-too-large. */
  readonly maxHeaderBytes: number;
  /** Characters of the request target; more is 414 uri-too-long. */
  readonly maxUriLength: number;
  /** Open client connections per listener; beyond it a new connection is closed at accept. */
  readonly maxConnections: number;
  /** The whole header block must arrive within this (slowloris); else 408 and close. */
  readonly headersTimeoutMs: number;
  /** The whole request, body included, must arrive within this; else 408 (or a cut) and close. */
  readonly requestTimeoutMs: number;
  /** An idle keep-alive connection is closed after this. */
  readonly keepAliveTimeoutMs: number;
  /**
   * Response bytes kept for a client that reads slower than the upstream sends. Within it the
   * upstream connection is released as soon as the upstream is done (a slow reader cannot
   * hold it); past it the upstream is paused and the route's idleTimeout applies.
   */
  readonly clientBufferBytes: number;
}

export const LISTENER_LIMITS: ListenerLimits = Object.freeze({
  maxHeaders: 100,
  maxHeaderBytes: 64 * 1024,
  maxUriLength: 8 * 1024,
  maxConnections: 16_384,
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 300_000,
  // Longer than typical client pools' idle time, so the app never reuses a socket we closed.
  keepAliveTimeoutMs: 65_000,
  clientBufferBytes: 256 * 1024,
});

export function serverOptions(limits: ListenerLimits) {
  return {
    headersTimeout: limits.headersTimeoutMs,
    requestTimeout: limits.requestTimeoutMs,
    keepAliveTimeout: limits.keepAliveTimeoutMs,
    // How often node looks for connections past headersTimeout/requestTimeout (default 30 s,
    // which would let a slowloris connection live 40 s instead of 10).
    connectionsCheckingInterval: Math.max(10, Math.min(1000, Math.floor(limits.headersTimeoutMs / 4))),
    maxHeaderSize: limits.maxHeaderBytes,
    // The strict parser, always: the lenient one is how request smuggling gets in.
    insecureHTTPParser: false,
    // Checked in #screen instead, so a missing Host gets the same JSON 400 as the rest.
    requireHostHeader: false,
  } as const;
}

