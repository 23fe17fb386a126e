/**
 * Routes in file order; the first whose `match` fits wins. Each listener gets its own table,
 * holding only the routes without a `listener:` or naming it, so scoping costs nothing per
 * request. The host is compared without its port, case-insensitively.
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { RouteMatch, RoutePolicy } from '../config/types.js';

export interface RouteCandidate {
  readonly method: string;
  /** Lower-case host without port. */
  readonly host: string;
  /** Path without the query string. */
  readonly path: string;
  readonly headers: IncomingHttpHeaders;
  /** The verified client certificate's identity (TLS listeners with clientCa), else undefined. */
  readonly clientIdentity: string | undefined;
}

export class RouteTable<R extends { readonly policy: RoutePolicy }> {
  readonly #routes: readonly R[];

  constructor(routes: readonly R[], listener: string) {
    this.#routes = routes.filter((r) => r.policy.listener === undefined || r.policy.listener === listener);
  }

  match(candidate: RouteCandidate): R | undefined {
    for (const route of this.#routes) if (matches(route.policy.match, candidate)) return route;
    return undefined;
  }
}

export function matches(match: RouteMatch, c: RouteCandidate): boolean {
  if (match.host !== undefined && match.host !== c.host) return false;
  if (match.path !== undefined && match.path !== c.path) return false;
  if (match.pathPrefix !== undefined && !c.path.startsWith(match.pathPrefix)) return false;
  if (match.pathRegex !== undefined && !match.pathRegex.test(c.path)) return false;
  if (match.methods !== undefined && !match.methods.includes(c.method)) return false;
  if (match.clientIdentity !== undefined && match.clientIdentity !== c.clientIdentity) return false;
  if (match.headers !== undefined) {
    for (const [name, value] of match.headers) if (c.headers[name] !== value) return false;
  }
  return true;
}

/** `catalog:8080` → `catalog`; `[::1]:15001` → `::1`; lower-cased. */
export function hostWithoutPort(authority: string): string {
  if (authority.startsWith('[')) {
    const end = authority.indexOf(']');
    return (end === -1 ? authority : authority.slice(1, end)).toLowerCase();
  }
  const colon = authority.indexOf(':');
  return (colon === -1 ? authority : authority.slice(0, colon)).toLowerCase();
}
