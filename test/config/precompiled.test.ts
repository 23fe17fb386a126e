import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { loadPolicyText } from '../../src/config/load.js';

// The build precompiles the schema's validator (dist/config/policy-validator.cjs) so start-up
// skips compiling it; the tests run from src/, which compiles at run time. Both must judge alike.
const built = fileURLToPath(new URL('../../dist/config/load.js', import.meta.url));

t.test('the precompiled validator reports exactly what the run-time one does', { skip: existsSync(built) ? false : 'run npm run build first' }, async (t) => {
  t.ok(existsSync(fileURLToPath(new URL('../../dist/config/policy-validator.cjs', import.meta.url))), 'the build wrote the validator');
  const dist = (await import(built)) as typeof import('../../src/config/load.js');
  const files = ['../../config/outrider.yaml', '../../config/examples/shadow.yaml'];
  const broken = `version: 2
listeners: [ { name: a, address: nowhere } ]
upstreams: { app: { endpoints: [ftp://x], balanse: random } }
routes:
  - { name: r, match: { pathPrefx: / }, upstream: app, retry: { attempts: 0, on: [teapot] }, timeout: soon }
`;
  const texts = [...files.map((f) => readFileSync(new URL(f, import.meta.url), 'utf8')), broken];
  for (const text of texts) {
    const fromSrc = loadPolicyText(text, 'p.yaml');
    const fromDist = dist.loadPolicyText(text, 'p.yaml');
    t.equal(fromDist.ok, fromSrc.ok);
    if (!fromSrc.ok && !fromDist.ok) t.same(fromDist.issues, fromSrc.issues, 'the same located messages');
  }
  const result = dist.loadPolicyText(broken, 'p.yaml');
  t.ok(!result.ok && result.issues.length >= 6, 'the broken policy is rejected with every error');
});
