/**
 * The load generator's process. The runner starts it once per bench run (pinned to the
 * generator's core) and sends it jobs over IPC; keeping it alive keeps its JIT warm, so later
 * measurements do not pay for the generator's own warm-up.
 */
import { runJob, type Progress } from './generator.js';
import type { FromWorker, ToWorker } from './protocol.js';
import { ProgressLine } from './progress.js';

function send(message: FromWorker): void {
  process.send?.(message);
}

async function onMessage(message: ToWorker): Promise<void> {
  if (message.type === 'exit') {
    process.disconnect?.();
    return;
  }
  const line = new ProgressLine(process.stderr);
  try {
    const result = await runJob(message.job, (p: Progress) => line.update(p));
    line.clear();
    send({ type: 'result', result });
  } catch (err) {
    line.clear();
    send({ type: 'error', message: err instanceof Error ? err.stack ?? err.message : String(err) });
  }
}

if (!process.send) {
  console.error('bench/loadgen/worker: start me with an IPC channel (the bench runner does)');
  process.exit(2);
}
process.on('message', (m: ToWorker) => void onMessage(m));
// The runner going away (even killed) closes the channel: exit with it, never linger.
process.on('disconnect', () => process.exit(0));
send({ type: 'ready' });
