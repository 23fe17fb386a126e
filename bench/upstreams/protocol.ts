/** Messages between the runner and the upstream simulator process. */
import type { Behaviour } from './behaviour.js';

export interface EndpointSpec {
  readonly name: string;
  readonly port: number;
  readonly seed: number;
  readonly behaviour: Behaviour;
}

export interface EndpointStats {
  readonly received: number;
  /** Requests carrying `x-outrider-shadow` (mirrored copies). */
  readonly shadow: number;
  /** Requests whose `x-outrider-attempt` is above 1 (retries and hedges). */
  readonly extraAttempts: number;
  readonly inFlight: number;
}

export type ToSim =
  | { readonly type: 'start'; readonly endpoints: readonly EndpointSpec[] }
  | { readonly type: 'set'; readonly id: number; readonly endpoint: string; readonly behaviour: Behaviour }
  | { readonly type: 'stats'; readonly id: number; readonly reset: boolean };

export type FromSim =
  | { readonly type: 'listening' }
  | { readonly type: 'set-done'; readonly id: number; readonly atEpoch: number }
  | { readonly type: 'stats'; readonly id: number; readonly stats: Readonly<Record<string, EndpointStats>> }
  | { readonly type: 'error'; readonly message: string };
