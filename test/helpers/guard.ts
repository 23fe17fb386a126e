/**
 * Fail a test file if an unhandled rejection or an uncaught exception reaches the process: the
 * sidecar must handle every fault itself. `guardProcess()` at the top of the file starts
 * listening; `guard.check(t)` at the bottom adds the subtest that fails if anything was seen
 * (tap runs subtests in order, so it runs after all the others).
 */
import type { Test } from 'tap';

export interface ProcessGuard {
  readonly seen: readonly string[];
  check(t: Test): void;
}

export function guardProcess(): ProcessGuard {
  const seen: string[] = [];
  const onRejection = (reason: unknown): void => void seen.push(`unhandledRejection: ${describe(reason)}`);
  const onException = (err: unknown): void => void seen.push(`uncaughtException: ${describe(err)}`);
  process.on('unhandledRejection', onRejection);
  process.on('uncaughtException', onException);
  return {
    seen,
    check(t: Test) {
      t.test('no unhandled rejection or uncaught exception reached the process', async (t) => {
        await new Promise((resolve) => setTimeout(resolve, 50));
        process.off('unhandledRejection', onRejection);
        process.off('uncaughtException', onException);
        t.same(seen, [], 'none seen');
      });
    },
  };
}

function describe(value: unknown): string {
  return value instanceof Error ? `${value.name}: ${value.message}\n${value.stack ?? ''}` : String(value);
}
