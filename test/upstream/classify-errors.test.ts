/**
 * classifyUpstreamError (src/errors.ts) on errors as they really arrive: a refused connect
 * wrapped by fetch (the code sits in `cause`), a reset, something thrown that is not an Error,
 * and a context without an upstream name.
 */
import { createServer } from 'node:net';
import t from 'tap';
import { classifyUpstreamError, OutriderError } from '../../src/errors.js';
import { closedPort } from '../helpers/upstream.js';

t.test('a refused connect is upstream-unreachable, found in the cause chain', async (t) => {
  const port = await closedPort();
  const err = await fetch(`http://127.0.0.1:${port}/`).then(
    () => undefined,
    (e: unknown) => e,
  );
  t.type(err, TypeError, 'fetch wraps it');
  t.equal((err as { cause?: { code?: string } }).cause?.code, 'ECONNREFUSED', 'the code is in its cause');
  const classified = classifyUpstreamError(err, { route: 'r', upstream: 'app' });
  t.equal(classified.code, 'upstream-unreachable');
  t.equal(classified.status, 502);
  t.match(classified.message, /^upstream app unreachable: fetch failed/);
  t.equal(classified.cause, err, 'the original error is kept as the cause');
});

t.test('a connection reset mid-answer is upstream-reset; an OutriderError passes unchanged', async (t) => {
  const server = createServer((socket) => socket.once('data', () => socket.resetAndDestroy()));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const port = (server.address() as { port: number }).port;
  const err = await fetch(`http://127.0.0.1:${port}/`).then(
    () => undefined,
    (e: unknown) => e,
  );
  const classified = classifyUpstreamError(err, { route: 'r', upstream: 'app' });
  t.equal(classified.code, 'upstream-reset');
  t.match(classified.message, /^upstream app reset the connection: /);
  const own = new OutriderError('timeout', 'deadline');
  t.equal(classifyUpstreamError(own, {}), own);
});

t.test('something thrown that is not an Error, and no upstream in the context', async (t) => {
  const classified = classifyUpstreamError('socket hang up', {});
  t.equal(classified.code, 'upstream-reset', 'no code to read: a reset');
  t.equal(classified.message, 'upstream  reset the connection: socket hang up');
  t.equal(classifyUpstreamError(null, {}).code, 'upstream-reset');
  t.equal(classifyUpstreamError({ code: 'EAI_AGAIN' }, { upstream: 'dns' }).code, 'upstream-unreachable', 'a bare object with a code');
});
