import t from 'tap';
import {
  DURATION_PATTERN,
  isDuration,
  isSize,
  parseDurationMs,
  parsePercentile,
  parseSizeBytes,
  PERCENTILE_PATTERN,
  POSITIVE_DURATION_PATTERN,
  SIZE_PATTERN,
} from '../../src/util/units.js';

t.test('durations convert to milliseconds', async (t) => {
  const cases: [string, number][] = [
    ['0s', 0],
    ['0ms', 0],
    ['250ms', 250],
    ['2s', 2000],
    ['1.5s', 1500],
    ['1.1s', 1100],
    ['0.5ms', 0.5],
    ['1m', 60_000],
    ['1h', 3_600_000],
    ['20s', 20_000],
  ];
  for (const [text, ms] of cases) t.equal(parseDurationMs(text), ms, text);
});

t.test('malformed durations are rejected', async (t) => {
  for (const text of ['', '2', '2 s', 's', '-1s', '1.s', '.5s', '2sec', '1d', '1m30s', '2S', ' 2s']) {
    t.notOk(isDuration(text), JSON.stringify(text));
    t.throws(() => parseDurationMs(text), RangeError, JSON.stringify(text));
    t.notOk(new RegExp(DURATION_PATTERN).test(text), `pattern rejects ${JSON.stringify(text)}`);
  }
});

t.test('the positive-duration pattern excludes zero only', async (t) => {
  const positive = new RegExp(POSITIVE_DURATION_PATTERN);
  for (const text of ['0s', '0ms', '0.0s', '00m']) t.notOk(positive.test(text), text);
  for (const text of ['1ms', '0.5s', '10s', '100ms', '1h']) t.ok(positive.test(text), text);
});

t.test('sizes convert to bytes', async (t) => {
  const cases: [string, number][] = [
    ['0B', 0],
    ['512B', 512],
    ['64KiB', 65_536],
    ['1MiB', 1_048_576],
    ['1.5KiB', 1536],
    ['1GiB', 1_073_741_824],
  ];
  for (const [text, bytes] of cases) t.equal(parseSizeBytes(text), bytes, text);
});

t.test('malformed sizes are rejected', async (t) => {
  for (const text of ['1MB', '1mib', '64', 'KiB', '1 MiB', '1KB', '-1B']) {
    t.notOk(isSize(text), text);
    t.throws(() => parseSizeBytes(text), RangeError, text);
    t.notOk(new RegExp(SIZE_PATTERN).test(text), `pattern rejects ${text}`);
  }
});

t.test('percentiles', async (t) => {
  t.equal(parsePercentile('p50'), 50);
  t.equal(parsePercentile('p95'), 95);
  t.equal(parsePercentile('p99'), 99);
  t.equal(parsePercentile('p99.9'), 99.9);
  t.equal(parsePercentile('p5'), 5);
  for (const text of ['p0', 'p100', 'p', '95', 'p95.', 'P95', '40ms']) {
    t.equal(parsePercentile(text), undefined, text);
    t.notOk(new RegExp(PERCENTILE_PATTERN).test(text), `pattern rejects ${text}`);
  }
});
