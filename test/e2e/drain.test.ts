import { writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { send } from '../helpers/http.js';
import { holding, until } from '../helpers/held.js';
import { startUpstream } from '../helpers/upstream.js';
import { freePort, runBin, waitReady } from './process.js';

t.test('SIGTERM: in-flight requests complete, new ones are refused, exit 0', async (t) => {
  // The upstream holds the three requests until the test lets them go: they are in flight for
  // as long as the test needs, however slow the machine.
  const held = holding();
  const upstream = await startUpstream(held.behaviour);
  t.teardown(() => upstream.close());
  const [listenPort, adminPort] = [await freePort(), await freePort()];
  const file = join(mkdtempSync(join(tmpdir(), 'outrider-drain-')), 'outrider.yaml');
  writeFileSync(
    file,
    `version: 1
admin: { address: 127.0.0.1:${adminPort} }
drainTimeout: 5s
accessLog: off
listeners: [ { name: outbound, address: 127.0.0.1:${listenPort} } ]
upstreams: { app: { endpoints: [${upstream.url}] } }
routes: [ { name: all, match: { pathPrefix: / }, upstream: app } ]
`,
  );
  const run = runBin(['--config', file]);
  t.teardown(() => run.child.kill('SIGKILL'));
  await waitReady(adminPort);

  const base = `http://127.0.0.1:${listenPort}`;
  const inFlight = [send(base, '/a'), send(base, '/b'), send(base, '/c')];
  await until(() => held.count === 3, 'the three requests to be held at the upstream');
  run.child.kill('SIGTERM');
  // The drain turns readiness off and stops accepting in the same step.
  await until(async () => (await send(`http://127.0.0.1:${adminPort}`, '/readyz')).status === 503, 'readiness to turn false');

  await t.rejects(send(base, '/late'), { code: 'ECONNREFUSED' }, 'new connections are refused while draining');
  t.equal(held.count, 3, 'the three requests are still in flight');
  t.equal(upstream.arrived, 3, 'and nothing else reached the upstream');
  held.release(200);

  const replies = await Promise.all(inFlight);
  t.same(replies.map((r) => r.status), [200, 200, 200], 'every in-flight request completed');
  t.equal(await run.exited, 0, 'exit code 0');
});
