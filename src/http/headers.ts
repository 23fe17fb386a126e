/**
 * Header rewriting on the way through (RFC 9110 §7.6.1): hop-by-hop fields stop here, the
 * forwarding fields are added, the request id is kept or generated (request-id.ts). Headers
 * stay flat [name, value, …] arrays end to end: it is what node:http gives and what undici and
 * `writeHead` take, so no objects are built per request.
 */

/**
 * Fields that describe one connection, never forwarded (plus any named in `Connection`).
 * `Trailer` is not one (RFC 9110 §6.6.2): a response's is passed on with its trailers.
 */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'transfer-encoding',
  'upgrade',
]);

/**
 * Loop protection: each pass through an Outrider listener adds one to this header, and a
 * request that arrives having passed MAX_HOPS times already is refused (508 loop-detected).
 * A count, not a flag: an app that calls itself through its own sidecar legitimately passes
 * twice (outbound, then inbound), and a request may cross a few sidecars on its way; only a
 * loop keeps counting.
 */
export const HOPS_HEADER = 'x-outrider-hops';
export const MAX_HOPS = 8;
const HOPS_TEXT = Array.from({ length: MAX_HOPS + 1 }, (_, i) => String(i));

/** `expect: 100-continue` is answered by node:http itself; undici refuses to send it. */
const REQUEST_ONLY_DROPPED = new Set(['expect', 'host', 'x-forwarded-for', 'x-forwarded-proto', 'x-request-id', HOPS_HEADER, 'x-forwarded-client-cert', 'trailer']);

/**
 * The hop count a client sent: the largest integer in the (possibly comma-joined) value; 0
 * when there is none. Garbage counts as 0: the header is rewritten on the way out anyway.
 */
export function hopCount(value: string | undefined): number {
  if (value === undefined) return 0;
  const n = Number(value);
  if (Number.isInteger(n) && n >= 0) return n;
  let max = 0;
  for (const part of value.split(',')) {
    const m = Number(part);
    if (Number.isInteger(m) && m > max) max = m;
  }
  return max;
}

const COLON = 0x3a;

export interface ForwardingInfo {
  readonly clientAddress: string;
  readonly authority: string;
  readonly requestId: string;
  readonly proto: string;
  /** Passes through Outrider so far, this one included (the value sent upstream). */
  readonly hops: number;
  /**
   * The verified client certificate's identity, sent as `x-forwarded-client-cert` (Envoy's
   * format). A client's own such header is always dropped (Envoy's SANITIZE): only a
   * certificate this listener verified may speak for the client.
   */
  readonly clientIdentity?: string | undefined;
}

/**
 * `name` equals `lower` (a lower-case field name) ignoring ASCII case. Lower-casing each field
 * name to compare it allocated a string for every mixed-case name (HTTP/1.1 clients' and
 * nginx's: `Content-Type`, `Date`, …) on every request and response.
 */
export function equalsIgnoringCase(name: string, lower: string): boolean {
  if (name.length !== lower.length) return false;
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (c !== lower.charCodeAt(i) && (c < 0x41 || c > 0x5a || (c | 0x20) !== lower.charCodeAt(i))) return false;
  }
  return true;
}

/** The names handled specially on the way through, by length, so most fields are told apart by their length alone. */
const SPECIAL_BY_LENGTH: readonly (readonly string[] | undefined)[] = (() => {
  const byLength: string[][] = [];
  for (const name of [...HOP_BY_HOP, ...REQUEST_ONLY_DROPPED]) (byLength[name.length] ??= []).push(name);
  return byLength;
})();

/** The special name (hop-by-hop or dropped on requests) that `name` is, lower-cased, or undefined for any other field. */
function specialName(name: string): string | undefined {
  const candidates = SPECIAL_BY_LENGTH[name.length];
  if (candidates === undefined) return undefined;
  for (let i = 0; i < candidates.length; i++) if (equalsIgnoringCase(name, candidates[i] as string)) return candidates[i];
  return undefined;
}

/** Names listed in one `Connection` value, lower-cased, added to `tokens`; `close` and `keep-alive` (nearly every value) name none. */
function addConnectionTokens(value: string, tokens: Set<string> | undefined): Set<string> | undefined {
  if (equalsIgnoringCase(value, 'keep-alive') || equalsIgnoringCase(value, 'close')) return tokens;
  for (const token of value.split(',')) {
    const name = token.trim().toLowerCase();
    if (name !== '' && name !== 'close' && name !== 'keep-alive') (tokens ??= new Set()).add(name);
  }
  return tokens;
}

/** Names listed in the `Connection` header(s), lower-cased; usually none. */
function connectionTokens(raw: readonly string[]): Set<string> | undefined {
  let tokens: Set<string> | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    if (equalsIgnoringCase(raw[i] as string, 'connection')) tokens = addConnectionTokens(raw[i + 1] as string, tokens);
  }
  return tokens;
}

/** The value of the first field named `lowerName` (lower-case), or undefined. */
export function findHeader(raw: readonly string[], lowerName: string): string | undefined {
  for (let i = 0; i < raw.length; i += 2) {
    if (equalsIgnoringCase(raw[i] as string, lowerName)) return raw[i + 1];
  }
  return undefined;
}

/**
 * Headers for the upstream request: the client's minus hop-by-hop fields, with Host set to the
 * authority the client addressed, x-forwarded-for appended, x-forwarded-proto kept or set, the
 * hop count set. Undefined when the request carries more than one Host field, which RFC 9112
 * §3.2 says to refuse with 400 (two hosts are two opinions on where the request goes).
 */
export function upstreamRequestHeaders(raw: readonly string[], info: ForwardingInfo): string[] | undefined {
  const listed = connectionTokens(raw);
  const out: string[] = ['host', info.authority];
  let forwardedFor: string | undefined;
  let forwardedProto: string | undefined;
  let hosts = 0;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string;
    const value = raw[i + 1] as string;
    if (name.charCodeAt(0) === COLON) continue; // HTTP/2 pseudo-headers: the request line's parts, not fields
    // Only a name handled specially, or listed in Connection, needs its lower-case form.
    const lower = listed === undefined ? specialName(name) : name.toLowerCase();
    if (lower === undefined) {
      out.push(name, value);
      continue;
    }
    if (HOP_BY_HOP.has(lower) || listed?.has(lower)) {
      // The one TE value HTTP/2 allows, and what gRPC needs upstream to get its trailers (Envoy keeps it too).
      if (lower === 'te' && value.trim().toLowerCase() === 'trailers') out.push('te', 'trailers');
      continue;
    }
    if (REQUEST_ONLY_DROPPED.has(lower)) {
      if (lower === 'x-forwarded-for') forwardedFor = forwardedFor === undefined ? value : `${forwardedFor}, ${value}`;
      else if (lower === 'x-forwarded-proto') forwardedProto ??= value;
      else if (lower === 'host' && ++hosts > 1) return undefined;
      continue;
    }
    out.push(name, value);
  }
  out.push('x-forwarded-for', forwardedFor === undefined ? info.clientAddress : `${forwardedFor}, ${info.clientAddress}`);
  out.push('x-forwarded-proto', forwardedProto ?? info.proto);
  out.push('x-request-id', info.requestId);
  out.push(HOPS_HEADER, HOPS_TEXT[info.hops] ?? String(info.hops));
  if (info.clientIdentity !== undefined) out.push('x-forwarded-client-cert', forwardedClientCert(info.clientIdentity));
  return out;
}

/**
 * The upstream's response headers for the client: undici hands them as Buffers; hop-by-hop
 * fields and those named in `Connection` are dropped.
 */
export function clientResponseHeaders(raw: readonly Buffer[]): string[] {
  const out: string[] = [];
  let listed: Set<string> | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const name = (raw[i] as Buffer).toString('latin1');
    const value = (raw[i + 1] as Buffer).toString('latin1');
    const special = specialName(name);
    if (special === 'connection') listed = addConnectionTokens(value, listed);
    if (special !== undefined && HOP_BY_HOP.has(special)) continue;
    out.push(name, value);
  }
  return listed === undefined ? out : dropListed(out, listed);
}

function dropListed(headers: string[], listed: Set<string>): string[] {
  const out: string[] = [];
  for (let i = 0; i < headers.length; i += 2) {
    if (!listed.has((headers[i] as string).toLowerCase())) out.push(headers[i] as string, headers[i + 1] as string);
  }
  return out;
}

/** Envoy's `x-forwarded-client-cert` element for an identity: `URI=…` for a SPIFFE id, else `Subject="CN=…"`. */
function forwardedClientCert(identity: string): string {
  return identity.includes('://') ? `URI=${identity}` : `Subject="CN=${identity.replace(/["\\]/g, '\\$&')}"`;
}
