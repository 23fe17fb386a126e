/**
 * The policy file's schema (version 1), written once in TypeBox. It is both the loader's
 * validator (through Ajv) and the published JSON Schema `schema/policy.schema.json` that editors
 * use for completion and hover help, so every property carries a `description` and its
 * `default`, and every object is closed (`additionalProperties: false`): unknown keys are errors.
 *
 * The patterns' blocks are in schema-patterns.ts, one section per pattern in the order of
 * docs/policy.md; the upstream block in schema-upstream.ts; the building blocks in
 * schema-blocks.ts. Adding a pattern means adding a
 * block there, a normalizer in normalize.ts and a row in the docs.
 *
 * Two things the schema deliberately does NOT say, because they are only known after `defaults`
 * is merged under a route: that `hedge.delay` and `shadow.upstream` are required, and that a
 * route needs an `upstream`. load.ts checks those on the merged route.
 *
 * `errorMessage` is the plain-language message for a value of the wrong shape. Editors that
 * follow VS Code's JSON Schema extensions (the YAML language server does) show it; the loader's
 * Ajv instance registers it as an annotation keyword and uses it too.
 */
import { Type, type Static } from '@sinclair/typebox';
import { CONNECT_TARGET_PATTERN, DEFAULTS, NAME_PATTERN } from './defaults.js';
import { Strict, StringEnum, MapOf, Duration, Size, NAME_MESSAGE, Name, Reference, Address, HEADER_NAME_PATTERN, HEADER_NAME_MESSAGE, METHOD, FilePath } from './schema-blocks.js';

// Vocabulary and built-in defaults live in defaults.ts, which the loader uses without TypeBox.
export { ADDRESS_PATTERN, BREAKER_FAILURES, DEFAULTS, ENDPOINT_PATTERN, IDEMPOTENT_METHODS, NAME_PATTERN, RETRY_CONDITIONS } from './defaults.js';
import { Bulkhead, CircuitBreaker, Hedge, Retry, ScatterGather, Shadow } from './schema-patterns.js';
import { Upstream } from './schema-upstream.js';
// ---------------------------------------------------------------------------------------------
// Top-level settings
// ---------------------------------------------------------------------------------------------

const Admin = Strict(
  {
    address: Type.Optional(
      Address({
        description: 'Where the admin server listens: /healthz /readyz /metrics /config /status. Keep it on loopback.',
        default: DEFAULTS.admin.address,
      }),
    ),
  },
  { description: 'The admin server.', default: DEFAULTS.admin },
);

const Listener = Strict(
  {
    name: Name('Unique name of the listener; routes refer to it with `listener:`.'),
    address: Address({ description: 'host:port to accept HTTP/1.1 and HTTP/2 on. Port 0 picks a free port (tests).' }),
    protocols: Type.Optional(
      Type.Array(StringEnum(['http1', 'h2c'], { description: 'A protocol accepted on this listener.' }), {
        minItems: 1,
        uniqueItems: true,
        description: 'Protocols accepted on the one port, told apart by the first bytes (h2c: HTTP/2 with prior knowledge; on a TLS listener, h2 by ALPN).',
        default: ['http1', 'h2c'],
      }),
    ),
    unrouted: Type.Optional(
      StringEnum(['reject', 'passthrough'], {
        description: 'A request no route matches: 404 no-route (reject), or forwarded to its own authority (absolute-form URI, else Host; port 80 when none) with the defaults\' timeout and nothing else, route passthrough in metrics and logs (passthrough).',
        default: 'reject',
      }),
    ),
    tls: Type.Optional(
      Strict(
        {
          cert: FilePath('PEM file of the listener\'s certificate chain. Watched: a rotated file is used for new connections.'),
          key: FilePath('PEM file of its private key.'),
          clientCa: Type.Optional(FilePath('PEM file of the authorities client certificates must chain to; when set, a client certificate is required.')),
        },
        { description: 'Terminate TLS on this listener (ALPN h2 and http/1.1, as protocols allows).' },
      ),
    ),
    connect: Type.Optional(
      Strict(
        {
          allow: Type.Array(
            Type.String({
              pattern: CONNECT_TARGET_PATTERN,
              errorMessage: 'must be host:port, with * for any host or any port, such as *:443 or api.example.com:*',
              description: 'A CONNECT target allowed: host:port, * for any host or any port.',
            }),
            { description: 'CONNECT targets that are tunnelled; anything else gets 403 connect-refused.' },
          ),
        },
        { description: 'CONNECT tunnels (HTTPS_PROXY clients): allowed targets are answered 200 and tunnelled as opaque bytes. Default: none allowed.' },
      ),
    ),
  },
  { description: 'A port the sidecar accepts requests on: outbound (the app calls out through it) or inbound (it fronts the app).' },
);

// ---------------------------------------------------------------------------------------------
// Route: match
// ---------------------------------------------------------------------------------------------

const PathString = (description: string) => Type.String({ pattern: '^/', errorMessage: 'must start with /', description });

const Match = Strict(
  {
    host: Type.Optional(
      Type.String({
        pattern: '^(\\[[0-9A-Fa-f:.]+\\]|[A-Za-z0-9_.-]+)$',
        errorMessage: 'must be a host name without a port, such as catalog',
        description: 'The Host header (or absolute-form authority) to match, case-insensitive; the request port is ignored.',
      }),
    ),
    path: Type.Optional(PathString('The exact path to match (query string excluded).')),
    pathPrefix: Type.Optional(PathString('A path prefix to match (query string excluded), e.g. /items.')),
    pathRegex: Type.Optional(
      Type.String({
        minLength: 1,
        description: 'A JavaScript regular expression tested against the path (query excluded). Anchor it with ^ and $ for a full match.',
      }),
    ),
    methods: Type.Optional(
      Type.Array(METHOD, { minItems: 1, uniqueItems: true, description: 'Match only these methods (any method when omitted).' }),
    ),
    clientIdentity: Type.Optional(
      Type.String({
        minLength: 1,
        description: 'The verified client certificate\'s SPIFFE URI (else its subject CN), exactly; needs a listener with tls.clientCa.',
      }),
    ),
    headers: Type.Optional(
      MapOf(Type.String({ description: 'The exact value; quote numbers, e.g. "1".' }), {
        description: 'Request headers that must all be present with exactly these values; names are case-insensitive.',
        propertyNames: Type.String({ pattern: HEADER_NAME_PATTERN, errorMessage: HEADER_NAME_MESSAGE }),
      }),
    ),
  },
  { description: 'What requests the route takes. Give at most one of path, pathPrefix and pathRegex; an empty match takes every request.' },
);

// Routes and defaults
// ---------------------------------------------------------------------------------------------

/** The policy blocks `defaults` may carry; each is merged under every route. */
function policyBlocks() {
  return {
    upstream: Type.Optional(Reference('The upstream that receives the requests.')),
    timeout: Type.Optional(
      Duration({
        description: 'Deadline of the exchange, counted from the end of the request body; bounds every try, wait and hedge and the response body (504 timeout). 0s: no deadline (streams).',
        default: DEFAULTS.route.timeout,
      }),
    ),
    idleTimeout: Type.Optional(
      Duration({
        description: 'No bytes either way for this long ends the exchange: 408/504 before the response headers, a reset after them. 0s: never.',
        default: DEFAULTS.route.idleTimeout,
      }),
    ),
    retry: Type.Optional(Retry),
    hedge: Type.Optional(Hedge),
    circuitBreaker: Type.Optional(CircuitBreaker),
    bulkhead: Type.Optional(Bulkhead),
    shadow: Type.Optional(Shadow),
  };
}

const Route = Strict(
  {
    name: Name('Unique name of the route; state (breakers, budgets, latency) is kept by it across reloads.'),
    listener: Type.Optional(Reference('Only requests arriving on this listener. Omitted: every listener.')),
    match: Type.Optional(Match),
    ...policyBlocks(),
    scatterGather: Type.Optional(ScatterGather),
  },
  { description: 'A route: the first one that matches a request, in file order, handles it.' },
);

const Defaults = Strict(policyBlocks(), {
  description: 'Merged under every route, block by block: a route\'s own keys win, lists replace. A scatterGather route ignores upstream, retry and hedge from here.',
});

// ---------------------------------------------------------------------------------------------
// The policy file
// ---------------------------------------------------------------------------------------------

export const PolicySchema = Strict(
  {
    version: Type.Literal(1, { description: 'The policy format version; must be 1.', errorMessage: 'must be 1 (the only policy version this sidecar understands)' }),
    admin: Type.Optional(Admin),
    drainTimeout: Type.Optional(Duration({ description: 'On SIGTERM, how long in-flight requests may finish.', default: DEFAULTS.drainTimeout })),
    replayBodyLimit: Type.Optional(
      Size({ description: 'Largest request body kept for retry, hedge and shadow; above it those step aside for that request.', default: DEFAULTS.replayBodyLimit }),
    ),
    accessLog: Type.Optional(StringEnum(['stdout', 'off'], { description: 'One JSON line per request on stdout, or off.', default: DEFAULTS.accessLog })),
    listeners: Type.Array(Listener, { minItems: 1, description: 'Where requests come in.' }),
    upstreams: MapOf(Upstream, {
      description: 'Named upstreams, referred to by routes, shadows and scatter targets.',
      propertyNames: Type.String({ pattern: NAME_PATTERN, errorMessage: NAME_MESSAGE }),
    }),
    defaults: Type.Optional(Defaults),
    routes: Type.Array(Route, { minItems: 1, description: 'First match wins, in file order.' }),
  },
  { title: 'Outrider policy', description: 'The Outrider sidecar policy file, version 1. See docs/policy.md.' },
);

/** The validated document, before `defaults` are merged and units converted. */
export type PolicyDocument = Static<typeof PolicySchema>;
export type RouteDocument = PolicyDocument['routes'][number];
export type DefaultsDocument = NonNullable<PolicyDocument['defaults']>;
export type UpstreamDocument = PolicyDocument['upstreams'][string];

/** The JSON Schema as published in schema/policy.schema.json (plain JSON, no TypeBox symbols). */
export function policyJsonSchema(): Record<string, unknown> {
  const plain = JSON.parse(JSON.stringify(PolicySchema)) as Record<string, unknown>;
  return { $schema: 'http://json-schema.org/draft-07/schema#', ...plain };
}

/** The committed file's exact text (two-space JSON plus a final newline). */
export function policyJsonSchemaText(): string {
  return `${JSON.stringify(policyJsonSchema(), null, 2)}\n`;
}

