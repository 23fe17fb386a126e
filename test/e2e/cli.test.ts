import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { runBin } from './process.js';

const dir = mkdtempSync(join(tmpdir(), 'outrider-cli-'));
const valid = join(dir, 'valid.yaml');
const invalid = join(dir, 'invalid.yaml');
writeFileSync(
  valid,
  `version: 1
listeners: [ { name: outbound, address: 127.0.0.1:15001 } ]
upstreams: { app: { endpoints: [http://127.0.0.1:8080] } }
routes:
  - name: all
    match: { pathPrefix: / }
    upstream: app
    retry: { attempts: 3 }
`,
);
writeFileSync(
  invalid,
  `version: 1
listeners: [ { name: outbound, address: 127.0.0.1:15001 } ]
upstreams: { app: { endpoints: [http://127.0.0.1:8080] } }
routes:
  - name: all
    match: { pathPrefix: / }
    upstream: app
    retry: { atempts: 3 }
`,
);

t.test('the bin runs the CLI (not a silent exit 0)', async (t) => {
  const run = runBin(['--version']);
  t.equal(await run.exited, 0);
  t.match(run.stdout.join(''), /^outrider \d+\.\d+\.\d+/);
});

t.test('validate: a valid file prints a summary and exits 0', async (t) => {
  const run = runBin(['validate', valid]);
  t.equal(await run.exited, 0);
  t.match(run.stdout.join(''), /valid\. 1 listener, 1 upstream, 1 route; patterns: retry\./);
});

t.test('validate: an invalid file prints file:line:column: message and exits 1', async (t) => {
  const run = runBin(['validate', invalid]);
  t.equal(await run.exited, 1);
  const err = run.stderr.join('');
  t.match(err, new RegExp(`^${invalid.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:8:14: .*atempts.*did you mean "attempts"`, 'm'));
});

t.test('running with an invalid policy refuses to start with exit 1', async (t) => {
  const run = runBin(['--config', invalid]);
  t.equal(await run.exited, 1);
  t.match(run.stderr.join(''), /invalid\.yaml:8:14:/);
});

t.test('usage errors exit 2', async (t) => {
  const run = runBin(['--bogus']);
  t.equal(await run.exited, 2);
  t.match(run.stderr.join(''), /Usage:/);
  const missing = runBin(['validate']);
  t.equal(await missing.exited, 2);
});
