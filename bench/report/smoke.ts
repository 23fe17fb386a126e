/**
 * What fails a `--smoke` run (CI): Outrider's own failures, never its speed. A scenario that
 * crashed; one skipped because of Outrider (not built, did not start, rejected the policy, a
 * layer missing from /status); a functional check that did not pass, including one that could
 * not be measured. A peer that is not installed (wrk, nginx, HAProxy) fails nothing.
 */
import type { ScenarioResult } from '../scenarios/types.js';

/** One line per failure, naming the scenario and saying why; empty when the smoke run passed. */
export function smokeFailures(results: readonly ScenarioResult[]): string[] {
  return results.flatMap((r) => {
    if (r.status === 'failed') return [`${r.name}: crashed: ${r.reason ?? 'no reason given'}`];
    if (r.status === 'skipped') return r.skipCause === 'peer' ? [] : [`${r.name}: skipped: ${r.reason ?? 'no reason given'}`];
    return r.checks
      .filter((c) => c.functional === true && c.pass !== true)
      .map((c) => `${r.name}: ${c.pass === null ? 'not measured' : 'failed'}: ${c.name}: ${c.value} (target ${c.target})`);
  });
}
