/**
 * The policy schema's `upstreams.<name>` block (schema.ts holds the rest): where the endpoints
 * are (listed, or a Kubernetes Service's EndpointSlices), how to balance and speak to them, TLS,
 * and outlier ejection. Kept apart so schema.ts stays a readable size.
 */
import { Type } from '@sinclair/typebox';
import { DEFAULTS, ENDPOINT_PATTERN } from './defaults.js';
import { Count, FilePath, Percent, PositiveDuration, Size, Strict, StringEnum } from './schema-blocks.js';


const Outlier = Strict(
  {
    consecutiveFailures: Type.Optional(
      Count(1, { description: 'Eject an endpoint after this many failures in a row (5xx, connect failure, reset).', default: DEFAULTS.outlier.consecutiveFailures }),
    ),
    ejectFor: Type.Optional(PositiveDuration({ description: 'How long an ejected endpoint stays out of the balancer.', default: DEFAULTS.outlier.ejectFor })),
    maxEjectedPercent: Type.Optional(
      Percent({ description: 'At most this percentage (0-100) of the endpoints is ejected at once.', default: DEFAULTS.outlier.maxEjectedPercent }),
    ),
  },
  { description: 'Outlier detection: take endpoints that keep failing out of the rotation for a while. Off when omitted.' },
);

const UpstreamTls = Strict(
  {
    ca: Type.Optional(FilePath('PEM file of the certificate authorities the upstream\'s certificate must chain to. Omitted: the system roots.')),
    serverName: Type.Optional(Type.String({ minLength: 1, description: 'The name sent in SNI and checked in the certificate. Omitted: the endpoint\'s host.' })),
    cert: Type.Optional(FilePath('PEM file of a client certificate to present (mutual TLS, with key).')),
    key: Type.Optional(FilePath('PEM file of the client certificate\'s private key.')),
  },
  { description: 'TLS to https:// endpoints: which authorities to trust, the name to expect, an optional client certificate.' },
);

/**
 * Kubernetes names as the API server checks them: a Service name is a DNS-1035 label, a
 * namespace a DNS-1123 label, a port name an IANA service name (at least one letter, no "--").
 * No lookaround: Helm checks values.schema.json (which copies this schema) with Go's RE2.
 */
const SERVICE_NAME_PATTERN = '^[a-z]([-a-z0-9]*[a-z0-9])?$';
const NAMESPACE_PATTERN = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$';
const PORT_NAME_PATTERN = '^([a-z0-9]+-)*[a-z0-9]*[a-z][a-z0-9]*(-[a-z0-9]+)*$';

const KubernetesService = Strict(
  {
    service: Type.String({
      pattern: SERVICE_NAME_PATTERN,
      maxLength: 63,
      errorMessage: 'must be a Service name: lower-case letters, digits and "-", starting with a letter, such as catalog',
      description: 'The Service whose ready pods are the endpoints (its EndpointSlices are listed and watched).',
    }),
    namespace: Type.Optional(
      Type.String({
        pattern: NAMESPACE_PATTERN,
        maxLength: 63,
        errorMessage: 'must be a namespace name: lower-case letters, digits and "-", such as shop',
        description: 'The Service\'s namespace. Omitted: the pod\'s own (POD_NAMESPACE, else the service account\'s namespace file).',
      }),
    ),
    port: Type.Union(
      [
        Type.String({ pattern: PORT_NAME_PATTERN, maxLength: 15, description: 'The Service port\'s name, such as http.' }),
        Type.Integer({ minimum: 1, maximum: 65535, description: 'The Service port\'s number (the Service is read to find its name).' }),
      ],
      {
        errorMessage: 'must be the Service port\'s name (such as http) or number (1-65535)',
        description: 'The Service port: its name or its number. Requests go to each pod\'s port behind it (its target port).',
      },
    ),
  },
  {
    description:
      'Instead of endpoints: the pods of a Kubernetes Service, from its EndpointSlices (listed, then watched; ready pods only, one endpoint per pod). Needs list and watch on endpointslices, and get on services for a port given by number.',
  },
);

export const Upstream = Strict(
  {
    endpoints: Type.Optional(Type.Array(
      Type.String({
        pattern: ENDPOINT_PATTERN,
        errorMessage: 'must be an http:// or https:// URL without a path, such as http://10.0.0.11:8080',
        description: 'http://host[:port] (port 80 when omitted) or https://host[:port] (443; TLS originated and verified). A single DNS name is re-resolved into several endpoints.',
      }),
      { minItems: 1, uniqueItems: true, description: 'Where the upstream is: one or more http:// or https:// origins. Give either endpoints or kubernetes.' },
    )),
    kubernetes: Type.Optional(KubernetesService),
    balance: Type.Optional(
      StringEnum(['round-robin', 'least-request', 'random'], { description: 'How a request picks an endpoint.', default: DEFAULTS.upstream.balance }),
    ),
    connections: Type.Optional(Count(1, { description: 'Keep-alive connection pool size per endpoint.', default: DEFAULTS.upstream.connections })),
    connectTimeout: Type.Optional(PositiveDuration({ description: 'How long establishing a TCP connection may take.', default: DEFAULTS.upstream.connectTimeout })),
    idleTimeout: Type.Optional(
      PositiveDuration({
        description: 'How long an idle pooled connection is kept. Set it below the app server\'s own keep-alive timeout.',
        default: DEFAULTS.upstream.idleTimeout,
      }),
    ),
    maxResponseHeaderSize: Type.Optional(
      Size({ description: 'Largest response header block accepted from this upstream; more is 502 upstream-reset.', default: DEFAULTS.upstream.maxResponseHeaderSize }),
    ),
    tls: Type.Optional(UpstreamTls),
    protocol: Type.Optional(
      StringEnum(['http1', 'h2c', 'h2', 'auto'], {
        description: 'The protocol spoken to the endpoints: http1, h2c (HTTP/2 without TLS, prior knowledge), h2 (HTTP/2 over TLS, ALPN must agree), auto (h2 if ALPN agrees, else HTTP/1.1).',
        default: 'http1',
      }),
    ),
    outlier: Type.Optional(Outlier),
  },
  { description: 'A named set of endpoints that routes send requests to: listed (endpoints) or discovered (kubernetes).' },
);
