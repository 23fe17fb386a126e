/** The access log's lines: pino's layout byte for byte, handed over in batches. */
import t from 'tap';
import { pino } from 'pino';
import { JsonAccessLog, stdoutAccessLog, type AccessLogEntry } from '../../src/observability/access-log.js';

const ENTRY: AccessLogEntry = {
  requestId: 'req-1',
  listener: 'outbound',
  route: 'all',
  upstream: 'app',
  endpoint: 'http://127.0.0.1:8080',
  method: 'GET',
  path: '/items?q="quoted"\\back\u0001slash',
  status: 200,
  duration: 1.234,
  attempts: 1,
  hedged: false,
  breakerState: null,
  errorCode: null,
  clientIdentity: 'spiffe://cluster.local/ns/shop/sa/web',
  protocol: 'http1',
  grpcStatus: null,
};

const withoutTime = (line: string): string => line.replace(/"time":"[^"]+"/, '"time":"T"');

t.test('a line is what the pino access logger wrote', async (t) => {
  const pinoLines: string[] = [];
  const logger = pino(
    { name: 'access', base: undefined, timestamp: pino.stdTimeFunctions.isoTime, formatters: { level: (label) => ({ level: label }) } },
    { write: (line: string) => void pinoLines.push(line) },
  );
  const ours: string[] = [];
  const log = new JsonAccessLog({ write: (chunk) => void ours.push(chunk) });
  for (const entry of [ENTRY, { ...ENTRY, route: null, upstream: null, status: 400, errorCode: 'bad-request', grpcStatus: 14, duration: 0 }]) {
    logger.info(entry);
    log.write(entry);
  }
  t.same(ours.map(withoutTime), pinoLines.map(withoutTime));
  t.match(ours[0], /^\{"level":"info","time":"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z","name":"access","requestId":"req-1",/);
  t.same(JSON.parse(ours[0] ?? ''), { level: 'info', time: JSON.parse(ours[0] ?? '').time, name: 'access', ...ENTRY });
});

t.test('lines are handed over in batches, and all of them on flush', async (t) => {
  const one: string[] = [];
  new JsonAccessLog({ write: (chunk) => void one.push(chunk) }).write(ENTRY);
  const lineChars = one[0]?.length ?? 0;
  const chunks: string[] = [];
  let synced = 0;
  const log = new JsonAccessLog({ write: (chunk) => void chunks.push(chunk), flushSync: () => void synced++ }, Math.floor(2.5 * lineChars));
  log.write(ENTRY);
  log.write(ENTRY);
  t.equal(chunks.length, 0, 'under the batch size: nothing yet');
  log.write(ENTRY);
  t.equal(chunks.length, 1, 'one chunk once the batch is full');
  t.equal(chunks[0]?.length, 3 * lineChars, 'holding the three lines');
  log.flush();
  t.equal(chunks.length, 1, 'nothing waiting: nothing handed over');
  log.write(ENTRY);
  log.flushSync();
  t.equal(chunks.length, 2, 'flushSync hands over what waits');
  t.equal(synced, 1, 'and flushes the destination');
  t.ok(chunks.join('').split('\n').filter(Boolean).every((line) => JSON.parse(line).requestId === 'req-1'), 'every line is whole JSON');
});

t.test('flushSync on exit survives a closed destination', async (t) => {
  const log = new JsonAccessLog({
    write: () => undefined,
    flushSync: () => {
      throw new Error('closed');
    },
  });
  t.doesNotThrow(() => log.flushSync());
  const stdout = stdoutAccessLog();
  t.doesNotThrow(() => stdout.flushSync?.(), 'the stdout log flushes with nothing written');
});
