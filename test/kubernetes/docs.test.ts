/**
 * docs/kubernetes.md, "Add Outrider to an existing app", agrees with the code: its policy
 * passes `outrider validate` with the listeners and admin port the injected sidecar uses, and
 * its annotation table lists exactly the annotations the injection reads, and the ports it
 * never captures are the ones the code excludes.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { loadPolicyFile } from '../../src/config/load.js';
import { ANNOTATION } from '../../src/kubernetes/inject/annotations.js';
import { EXCLUDED_OUTBOUND_PORTS, PORTS } from '../../src/kubernetes/inject/defaults.js';

const DOC = readFileSync(new URL('../../docs/kubernetes.md', import.meta.url), 'utf8');
const section = DOC.slice(DOC.indexOf('## Add Outrider to an existing app'), DOC.indexOf('## How Outrider sits in a pod'));

t.test('the section leads the page', async (t) => {
  t.equal(DOC.split('\n').find((line) => line.startsWith('## ')), '## Add Outrider to an existing app');
  t.ok(section.length > 1000);
});

t.test('its policy validates, on the ports the injected sidecar uses', async (t) => {
  const block = /```yaml\n(# docs\/kubernetes\.md: injected policy[^\n]*\n[\s\S]*?)```/.exec(section)?.[1];
  t.ok(block, 'the policy block is there');
  if (block === undefined) return;
  const file = join(mkdtempSync(join(tmpdir(), 'outrider-docs-')), 'outrider.yaml');
  writeFileSync(file, block);
  const loaded = await loadPolicyFile(file);
  t.ok(loaded.ok, loaded.ok ? 'valid' : JSON.stringify(loaded.issues));
  if (!loaded.ok) return;
  const port = (name: string): number | undefined => loaded.policy.listeners.find((l) => l.name === name)?.address.port;
  t.same([port('outbound'), port('inbound'), loaded.policy.admin.address.port], [PORTS.outbound, PORTS.inbound, PORTS.admin]);
  t.equal(loaded.policy.admin.address.host, '0.0.0.0', 'admin on the pod IP, for the probes');
});

t.test('the annotation table lists exactly the annotations injection reads', async (t) => {
  const table = section.slice(section.indexOf('### Annotations'), section.indexOf('### The injector'));
  const listed = [...table.matchAll(/^\| `(outrider\.io\/[a-z-]+)` \|/gm)].map((m) => m[1]);
  const read = Object.values(ANNOTATION).filter((a) => a !== ANNOTATION.injected);
  t.same([...listed].sort(), [...read].sort());
  t.match(section, /`outrider\.io\/injected: "<version>"`/, 'and the mark it writes is described');
});

t.test('the outbound ports capture always leaves alone are the ones injection excludes', async (t) => {
  t.ok(section.includes(`--exclude-outbound-ports ${EXCLUDED_OUTBOUND_PORTS.join(',')}\``));
});
