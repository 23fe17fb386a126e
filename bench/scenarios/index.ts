/** Every scenario, in the order `npm run bench` runs them. */
import { breaker } from './breaker.js';
import { bulkhead } from './bulkhead.js';
import { connections } from './connections.js';
import { footprint } from './footprint.js';
import { grpc } from './grpc.js';
import { hedge } from './hedge.js';
import { overhead } from './overhead.js';
import { scatter } from './scatter.js';
import { shadow } from './shadow.js';
import { soak } from './soak.js';
import { tlsScenario } from './tls.js';
import type { Scenario } from './types.js';
import { websocket } from './websocket.js';
import { wrkCheck } from './wrk-check.js';
import { zeroLoss } from './zero-loss.js';

export const SCENARIOS: readonly Scenario[] = [overhead, wrkCheck, hedge, breaker, bulkhead, shadow, scatter, soak, zeroLoss, connections, websocket, tlsScenario, grpc, footprint];
