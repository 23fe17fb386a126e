/**
 * From node's IncomingMessage to the pipeline's ProxyRequest: where the request is going
 * (origin- or absolute-form target), what the listener refuses before routing (the screen),
 * and the headers sent upstream.
 */
import { OutriderError } from '../errors.js';
import type { ClientChannel, ClientMessage, ProxyRequest } from '../pipeline/layer.js';
import type { Http2ServerRequest } from 'node:http2';
import { hostWithoutPort, type RouteCandidate } from '../routing/route-table.js';
import { clientIdentityOf } from './client-identity.js';
import type { TLSSocket } from 'node:tls';
import { hopCount, HOPS_HEADER, MAX_HOPS, upstreamRequestHeaders } from './headers.js';
import { newRequestId } from './request-id.js';
import type { ListenerLimits } from './limits.js';

interface Target {
  readonly authority: string;
  readonly path: string;
  readonly candidate: RouteCandidate;
}

/**
 * Origin-form (`/items?x`) takes its authority from Host; absolute-form (`http://catalog/items`,
 * sent by clients honouring HTTP_PROXY) carries it in the URI. Anything else is a bad request.
 */
export function parseTarget(req: ClientMessage): Target | undefined {
  const url = req.url ?? '';
  let authority: string;
  let path: string;
  if (url.startsWith('/')) {
    authority = authorityOf(req);
    path = url;
  } else if (url.startsWith('http://')) {
    const slash = url.indexOf('/', 7);
    const query = url.indexOf('?', 7);
    const end = slash === -1 ? (query === -1 ? url.length : query) : query === -1 ? slash : Math.min(slash, query);
    authority = url.slice(7, end);
    const rest = url.slice(end);
    path = rest.startsWith('/') ? rest : `/${rest}`;
    if (authority === '') return undefined;
  } else if (url === '*' && req.method === 'OPTIONS') {
    authority = authorityOf(req);
    path = '*';
  } else {
    return undefined;
  }
  const query = path.indexOf('?');
  const pathOnly = query === -1 ? path : path.slice(0, query);
  return {
    authority,
    path,
    candidate: { method: req.method ?? 'GET', host: hostWithoutPort(authority), path: pathOnly, headers: req.headers, clientIdentity: clientIdentityOf(req.socket) },
  };
}

/** HTTP/2 names the authority in `:authority` (RFC 9113 §8.3.1); `Host` is its HTTP/1.1 form. */
function authorityOf(req: ClientMessage): string {
  return (req.httpVersionMajor === 2 ? (req.headers[':authority'] as string | undefined) : undefined) ?? req.headers.host ?? '';
}

const NO_HEADERS: readonly string[] = Object.freeze([]);

/**
 * What the listener refuses before routing, cheapest checks first (a few comparisons on the
 * common path; an error object only for a refusal). The parser has already refused ambiguous
 * framing (CL with TE, bad or repeated CL, obs-fold, bad characters, bad chunk sizes).
 */
export function screen(req: ClientMessage, limits: ListenerLimits, listener: string): OutriderError | undefined {
  const h2 = req.httpVersionMajor === 2;
  const h2Fields = h2 ? measureFields(req.rawHeaders) : undefined;
  if ((h2Fields?.count ?? req.rawHeaders.length / 2) > limits.maxHeaders) {
    return new OutriderError('headers-too-large', `more than ${limits.maxHeaders} header fields`, { listener });
  }
  // HTTP/1.1's header bytes are bounded by llhttp. HTTP/2's are by SETTINGS_MAX_HEADER_LIST_SIZE,
  // which nghttp2 applies only once the client acknowledges our SETTINGS: one that never does
  // got 144 KB of fields through to the upstream (test/hardening/h2-attacks.test.ts).
  if (h2Fields !== undefined && h2Fields.bytes > limits.maxHeaderBytes) {
    return new OutriderError('headers-too-large', `header fields larger than ${limits.maxHeaderBytes} bytes`, { listener });
  }
  const url = req.url ?? '';
  if (url.length > limits.maxUriLength) {
    return new OutriderError('uri-too-long', `request target longer than ${limits.maxUriLength} characters`, { listener });
  }
  // HTTP/0.9 (`GET /` alone) parses as version 0.9: refused. HTTP/2 comes from the HTTP/2 server only.
  if (req.httpVersionMajor !== 1 && !h2) return new OutriderError('bad-request', `HTTP/${req.httpVersion} is not supported`, { listener });
  const headers = req.headers;
  const transferEncoding = headers['transfer-encoding'];
  if (transferEncoding !== undefined) {
    // RFC 9112 §6.1: in HTTP/1.0 the framing is faulty; other codings we cannot pass on (501 in the RFC).
    if (req.httpVersionMinor === 0) return new OutriderError('bad-request', 'Transfer-Encoding in an HTTP/1.0 request', { listener });
    if (!CHUNKED.test(transferEncoding)) {
      return new OutriderError('bad-request', `unsupported Transfer-Encoding: ${transferEncoding.slice(0, 64)}`, { listener });
    }
  }
  if (headers.host === undefined && req.httpVersionMinor === 1 && !h2) return new OutriderError('bad-request', 'HTTP/1.1 request without Host', { listener });
  if (h2 && headers[':authority'] === undefined && headers.host === undefined) {
    return new OutriderError('bad-request', 'HTTP/2 request without :authority or Host', { listener });
  }
  const hops = hopCount(headers[HOPS_HEADER] as string | undefined);
  if (hops >= MAX_HOPS) {
    return new OutriderError('loop-detected', `request has passed Outrider ${hops} times already (${HOPS_HEADER}): a routing loop?`, {
      listener,
    });
  }
  return undefined;
}

const CHUNKED = /^chunked$/i;

/** An HTTP/2 request's fields: how many (pseudo-headers are the request line, not fields) and their bytes. */
function measureFields(raw: readonly string[]): { count: number; bytes: number } {
  let count = 0;
  let bytes = 0;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string;
    bytes += name.length + (raw[i + 1] as string).length;
    if (name.charCodeAt(0) !== 0x3a) count++;
  }
  return { count, bytes };
}

export function proxyRequest(
  req: ClientMessage,
  client: ClientChannel,
  listener: string,
  target: Target | undefined,
  refusal: OutriderError | undefined,
  upgrade?: string,
): ProxyRequest {
  const clientAddress = req.socket.remoteAddress ?? '';
  const requested = req.headers['x-request-id'];
  const requestId = typeof requested === 'string' && requested !== '' ? requested : newRequestId();
  const authority = target?.authority ?? '';
  const hops = hopCount(req.headers[HOPS_HEADER] as string | undefined) + 1;
  const clientIdentity = target?.candidate.clientIdentity;
  const proto = (req.socket as TLSSocket).encrypted === true ? 'https' : 'http';
  const headers = refusal === undefined ? upstreamRequestHeaders(req.rawHeaders, { clientAddress, authority, requestId, proto, hops, clientIdentity }) : NO_HEADERS;
  return {
    method: req.method ?? 'GET',
    path: target?.path ?? req.url ?? '',
    authority,
    headers: headers ?? NO_HEADERS,
    body: hasBody(req) ? req : null,
    requestId,
    clientAddress,
    listener,
    incoming: req,
    client,
    grpc: isGrpc(req.headers['content-type']),
    refusal: headers === undefined ? new OutriderError('bad-request', 'more than one Host header field', { listener }) : refusal,
    upgrade,
    clientIdentity,
  };
}

/** traffic.md, gRPC: `application/grpc` or `application/grpc+proto` (and the like); not grpc-web. */
export function isGrpc(contentType: string | undefined): boolean {
  if (contentType === undefined || contentType.length < 16) return false;
  const start = contentType.slice(0, 16).toLowerCase();
  if (start !== 'application/grpc') return false;
  const next = contentType.charAt(16);
  return next === '' || next === '+' || next === ';';
}

function hasBody(req: ClientMessage): boolean {
  // An HTTP/2 request without a body ends its stream with its headers.
  if (req.httpVersionMajor === 2) return !(req as Http2ServerRequest).stream.endAfterHeaders;
  const length = req.headers['content-length'];
  if (length !== undefined) return length !== '0';
  return req.headers['transfer-encoding'] !== undefined;
}

