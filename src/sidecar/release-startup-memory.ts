/**
 * Start-up (reading the policy, compiling a few hundred modules, opening listeners) grows V8's
 * young generation to 8 MiB and V8 keeps it while the sidecar idles: most pods' proxies idle
 * most of the time, each holding memory that start-up alone needed. One memory-reducing full
 * collection once ready gives it back: on Node 24.22, 79 → 72 MiB RSS idle (docs/kubernetes.md,
 * Memory). Traffic grows the young generation again as far as `--max-semi-space-size` allows.
 *
 * Only on Node 24 and later, where it was measured: Node 20's V8 has no memory-reducing
 * collection, and its plain one doubled the young generation instead (22 was not measured).
 * Only the CLI calls this, never the Sidecar class: a test process starting many sidecars
 * would pay a full collection for each.
 */
import { getHeapSpaceStatistics, setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

type Collect = (options: { type: 'major'; execution: 'sync'; flavor: 'last-resort' }) => void;

const MIN_NODE_MAJOR = 24;

/** The young generation's size (bytes) before and after; undefined where it is not done. */
export function releaseStartupMemory(): { youngBefore: number; youngAfter: number } | undefined {
  if (Number(process.versions.node.split('.')[0]) < MIN_NODE_MAJOR) return undefined;
  const youngBefore = youngGeneration();
  // V8's gc() without --expose-gc on the command line (which a pod's NODE_OPTIONS may replace):
  // the flag takes effect for contexts created after it, as Node's own tests use it.
  setFlagsFromString('--expose-gc');
  const collect = runInNewContext('gc') as Collect;
  // 'last-resort' is the flavour that also shrinks the young generation; a plain major
  // collection leaves it at its size.
  collect({ type: 'major', execution: 'sync', flavor: 'last-resort' });
  return { youngBefore, youngAfter: youngGeneration() };
}

function youngGeneration(): number {
  return getHeapSpaceStatistics().find((space) => space.space_name === 'new_space')?.space_size ?? 0;
}
