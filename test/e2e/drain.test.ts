import { writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { send } from '../helpers/http.js';
import { delayed, startUpstream } from '../helpers/upstream.js';
import { freePort, runBin, waitReady } from './process.js';

t.test('SIGTERM: in-flight requests complete, new ones are refused, exit 0', async (t) => {
  const upstream = await startUpstream(delayed(600));
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
  // Let the three requests reach the upstream before the signal.
  for (let i = 0; i < 50 && upstream.arrived < 3; i++) await new Promise((r) => setTimeout(r, 20));
  t.equal(upstream.arrived, 3, 'three requests are in flight');
  run.child.kill('SIGTERM');
  await new Promise((r) => setTimeout(r, 100));

  await t.rejects(send(base, '/late'), { code: 'ECONNREFUSED' }, 'new connections are refused while draining');
  const readyz = await send(`http://127.0.0.1:${adminPort}`, '/readyz').catch(() => undefined);
  if (readyz !== undefined) t.equal(readyz.status, 503, 'readiness is false during the drain');

  const replies = await Promise.all(inFlight);
  t.same(replies.map((r) => r.status), [200, 200, 200], 'every in-flight request completed');
  t.equal(await run.exited, 0, 'exit code 0');
});
