/**
 * Admin safety: the admin server binds loopback unless told otherwise; binding it anywhere else
 * takes an explicit `admin.address` and is warned about at start; `/config` never shows route
 * match header values (they may carry tokens) nor credentials in URLs.
 */
import t from 'tap';
import { loadPolicyText } from '../../src/config/load.js';
import { redactPolicySource } from '../../src/config/redact.js';
import { isLoopback } from '../../src/sidecar.js';
import { guardProcess } from '../helpers/guard.js';
import { startSidecar } from '../helpers/sidecar.js';
import { startUpstream } from '../helpers/upstream.js';

const guard = guardProcess();

const WARNING = /admin server listens beyond loopback/;

function policy(adminAddress: string | undefined, upstreamUrl: string): string {
  return `version: 1
${adminAddress === undefined ? '' : `admin: { address: "${adminAddress}" }\n`}listeners: [ { name: outbound, address: 127.0.0.1:0 } ]
upstreams: { app: { endpoints: [${upstreamUrl}] } }
routes:
  - name: tenant
    match: { pathPrefix: /, headers: { authorization: &token "Bearer s3cret-token", x-api-key: k3y-value } }
    upstream: app
  - name: anchored
    match: { pathPrefix: /b, headers: { x-other: *token } }
    upstream: app
`;
}

t.test('the default admin address is loopback', async (t) => {
  const loaded = loadPolicyText(policy(undefined, 'http://127.0.0.1:8080'), 'p.yaml');
  t.ok(loaded.ok);
  if (loaded.ok) t.same(loaded.policy.admin.address, { host: '127.0.0.1', port: 9901 });
});

t.test('what counts as loopback', async (t) => {
  for (const host of ['127.0.0.1', '127.1.2.3', '::1', '[::1]', 'localhost', '::ffff:127.0.0.1']) t.ok(isLoopback(host), host);
  for (const host of ['0.0.0.0', '::', '10.0.0.5', '192.168.1.1', '::ffff:10.0.0.1', 'example.com']) t.notOk(isLoopback(host), host);
});

t.test('binding the admin beyond loopback is explicit and warned about', async (t) => {
  const up = await startUpstream();
  t.teardown(() => up.close());

  const quiet = await startSidecar(policy('127.0.0.1:0', up.url));
  t.notOk(
    quiet.opsLog.lines.some((l) => WARNING.test(String(l.msg))),
    'loopback: no warning',
  );
  await quiet.close();

  const open = await startSidecar(policy('0.0.0.0:0', up.url));
  t.teardown(() => open.close());
  const warning = open.opsLog.lines.find((l) => WARNING.test(String(l.msg)));
  t.ok(warning, 'a non-loopback admin address is warned about at start');
  t.equal(warning?.level, 40, 'at warn level');
  t.match(String(warning?.admin), /^0\.0\.0\.0:\d+$/, 'naming the address');
});

t.test('/config never shows match header values', async (t) => {
  const up = await startUpstream();
  const proxy = await startSidecar(policy('127.0.0.1:0', up.url));
  t.teardown(async () => {
    await proxy.close();
    await up.close();
  });
  const config = await proxy.admin('/config');
  t.equal(config.status, 200);
  for (const secret of ['s3cret-token', 'k3y-value']) t.notOk(config.body.includes(secret), `${secret} is not shown`);
  const routes = (config.json() as { routes: { match: { headers: Record<string, string> } }[] }).routes;
  t.same(routes[0]?.match.headers, { authorization: '<redacted>', 'x-api-key': '<redacted>' }, 'names kept, values masked');
  t.same(routes[1]?.match.headers, { 'x-other': '<redacted>' }, 'also when the value came through an anchor');
});

t.test('redaction of URL credentials (endpoints cannot carry them today; /config stays safe if they ever do)', async (t) => {
  const redacted = redactPolicySource({
    upstreams: { a: { endpoints: ['http://user:hunter2@10.0.0.1:80', 'http://10.0.0.2:80'] } },
    note: 'https://token@example.com/path',
    routes: [{ match: { headers: { cookie: 'session=abc' } } }],
  });
  const text = JSON.stringify(redacted);
  t.notOk(text.includes('hunter2') || text.includes('user:') || text.includes('token@') || text.includes('session=abc'), text);
  t.match(text, /http:\/\/<redacted>@10\.0\.0\.1:80/);
  t.match(text, /http:\/\/10\.0\.0\.2:80/, 'URLs without credentials are untouched');

  const loaded = loadPolicyText(policy(undefined, '"http://user:hunter2@127.0.0.1:8080"'), 'p.yaml');
  t.notOk(loaded.ok, 'an endpoint with credentials is rejected by validation');
  if (!loaded.ok) t.notOk(loaded.issues.some((i) => i.message.includes('hunter2')), 'and the error does not echo the secret');
});

guard.check(t);
