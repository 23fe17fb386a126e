/**
 * Every policy in config/examples/ loads. The TLS examples name files under
 * /etc/outrider/tls/ (a mounted Secret in a pod); here the test fixtures stand in for them.
 */
import { readdirSync, readFileSync } from 'node:fs';
import t from 'tap';
import { loadPolicyText } from '../../src/config/load.js';
import { formatIssue } from '../../src/config/types.js';

const dir = new URL('../../config/examples/', import.meta.url);
const fixtures = new URL('../fixtures/tls/', import.meta.url).pathname;
const standIns: Record<string, string> = { 'tls.crt': 'server.crt', 'tls.key': 'server.key', 'ca.crt': 'ca.crt' };

const files = readdirSync(dir).filter((f) => f.endsWith('.yaml'));
t.ok(files.length >= 11, `${files.length} examples`);
for (const file of files) {
  t.test(file, async (t) => {
    const text = readFileSync(new URL(file, dir), 'utf8').replace(/\/etc\/outrider\/tls\/([\w.]+)/g, (_, name: string) => `${fixtures}${standIns[name] ?? name}`);
    const loaded = loadPolicyText(text, file);
    t.same(loaded.ok ? [] : loaded.issues.map(formatIssue), [], 'loads without an issue');
  });
}
