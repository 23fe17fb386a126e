/**
 * Endpoint choice for one try. Endpoints already tried by this request are avoided when
 * another one is available (the next try prefers another endpoint), so retries and hedges
 * spread instead of hammering the endpoint that just failed or stalled.
 */
import type { BalanceAlgorithm } from '../config/types.js';

export interface Balanceable {
  readonly origin: string;
  /** Requests in flight to this endpoint, for least-request. */
  readonly inFlight: number;
  /** False while ejected as an outlier. */
  readonly available: boolean;
}

export interface Balancer {
  pick<E extends Balanceable>(endpoints: readonly E[], avoid: readonly string[]): E | undefined;
}

export function createBalancer(algorithm: BalanceAlgorithm, random: () => number = Math.random): Balancer {
  switch (algorithm) {
    case 'round-robin':
      return roundRobin();
    case 'least-request':
      return leastRequest(random);
    case 'random':
      return randomChoice(random);
  }
}

/** Candidates: available and not yet tried; failing that, available; failing that, all. */
function candidates<E extends Balanceable>(endpoints: readonly E[], avoid: readonly string[]): readonly E[] {
  if (avoid.length === 0 && allAvailable(endpoints)) return endpoints;
  const fresh = endpoints.filter((e) => e.available && !avoid.includes(e.origin));
  if (fresh.length > 0) return fresh;
  const available = endpoints.filter((e) => e.available);
  return available.length > 0 ? available : endpoints;
}

function allAvailable(endpoints: readonly Balanceable[]): boolean {
  for (const endpoint of endpoints) if (!endpoint.available) return false;
  return true;
}

function roundRobin(): Balancer {
  let next = 0;
  return {
    pick(endpoints, avoid) {
      const list = candidates(endpoints, avoid);
      if (list.length === 0) return undefined;
      next = (next + 1) % 0x7fffffff;
      return list[next % list.length];
    },
  };
}

/** Power of two choices (as Envoy and Linkerd do): two random picks, the less busy wins. */
function leastRequest(random: () => number): Balancer {
  return {
    pick(endpoints, avoid) {
      const list = candidates(endpoints, avoid);
      if (list.length <= 1) return list[0];
      const a = list[Math.floor(random() * list.length)] as (typeof list)[number];
      let b = list[Math.floor(random() * (list.length - 1))] as (typeof list)[number];
      if (b === a) b = list[list.length - 1] as (typeof list)[number];
      return b.inFlight < a.inFlight ? b : a;
    },
  };
}

function randomChoice(random: () => number): Balancer {
  return {
    pick(endpoints, avoid) {
      const list = candidates(endpoints, avoid);
      return list[Math.floor(random() * list.length)];
    },
  };
}
