/**
 * The real `outrider capture` (bin/outrider) in a network namespace of its own (root and `ip
 * netns`, as CI has; skipped with the reason where namespaces are not permitted): applied
 * twice it leaves the same rules, a dry run changes nothing and prints exactly what a real run
 * leaves, and each failure exits as the CLI says (1: iptables missing or refused; 2: usage).
 * Every iptables command runs inside the namespace: the machine's own rules are never touched.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { cannotRun, ip, unreadableAs } from '../helpers/netns.js';

const BIN = fileURLToPath(new URL('../../bin/outrider', import.meta.url));
const NS = `c${process.pid}-cli`;
const FLAGS = ['--proxy-uid', '65532', '--outbound-listener', '15001', '--inbound-listener', '15006', '--inbound-ports', '8080,9090', '--exclude-outbound-ports', '5432'];
const PATH = process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin';

interface Run {
  readonly status: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** `argv` inside the namespace, with exactly `env` (setpriv etc. may come first in argv). */
function inNs(argv: string[], env: Record<string, string> = { PATH }): Run {
  const vars = Object.entries(env).map(([k, v]) => `${k}=${v}`);
  const r = spawnSync('ip', ['netns', 'exec', NS, 'env', '-i', ...vars, ...argv], { encoding: 'utf8', timeout: 60_000 });
  return { status: r.status, stdout: r.stdout ?? '', stderr: `${r.stderr ?? ''}${r.error?.message ?? ''}` };
}

const capture = (...args: string[]): Run => inNs([process.execPath, BIN, 'capture', ...args]);

/** The nat table without what changes by itself: comments (timestamps) and packet counters. */
function natRules(): string {
  const saved = inNs(['iptables-save', '-t', 'nat']);
  if (saved.status !== 0) throw new Error(`iptables-save: ${saved.stderr}`);
  return saved.stdout
    .split('\n')
    .filter((line) => !line.startsWith('#'))
    .map((line) => line.replace(/\[\d+:\d+\]/, '[0:0]'))
    .join('\n');
}

const skip = cannotRun(NS, /^c(\d+)-cli\b/);

t.test('capture in a namespace: idempotent, dry run, failures', { skip }, async (t) => {
  t.teardown(() => void ip('netns', 'del', NS));
  // The refusal below is checked as the pod's proxy user, who must be able to run the CLI.
  const unreadable = unreadableAs(65532, [BIN, fileURLToPath(new URL('../../dist/main.js', import.meta.url))]);
  if (unreadable !== false) throw new Error(unreadable);
  const before = natRules();

  const dry = capture(...FLAGS, '--dry-run');
  t.equal(dry.status, 0, `dry run exits 0: ${dry.stderr}`);
  t.match(dry.stdout, /^\*nat$/m, 'it prints iptables-restore input');
  t.equal(natRules(), before, 'a dry run changes nothing');

  const first = capture(...FLAGS);
  t.equal(first.status, 0, `applied: ${first.stderr}`);
  t.match(first.stderr, /rules applied/);
  const once = natRules();
  t.not(once, before, 'the rules are there');
  for (const rule of dry.stdout.split('\n').filter((l) => l.startsWith('-A '))) {
    t.ok(once.split('\n').includes(rule), `as printed by the dry run: ${rule}`);
  }
  t.equal(once.split('\n').filter((l) => l.startsWith('-A ')).length, dry.stdout.split('\n').filter((l) => l.startsWith('-A ')).length, 'and nothing more');

  const second = capture(...FLAGS);
  t.equal(second.status, 0, `applied again: ${second.stderr}`);
  t.equal(natRules(), once, 'applying twice gives the same iptables-save');
  t.notMatch(second.stdout, /-A (PREROUTING|OUTPUT) /, 'the second run adds no jump (they are there)');

  const changed = capture(...FLAGS.slice(0, 6), '--inbound-ports', '7070');
  t.equal(changed.status, 0);
  const rules = natRules();
  t.match(rules, /--dport 7070 -j OUTRIDER_IN_REDIRECT/, 'new flags replace the chains');
  t.notMatch(rules, /--dport 8080 -j OUTRIDER_IN_REDIRECT/, 'nothing of the old rules is left');
  t.equal(rules.split('\n').filter((l) => l === '-A PREROUTING -p tcp -j OUTRIDER_INBOUND').length, 1, 'still one jump');

  const asProxy = inNs(['setpriv', '--reuid=65532', '--regid=65532', '--clear-groups', process.execPath, BIN, 'capture', ...FLAGS]);
  t.equal(asProxy.status, 1, 'not root: exit 1');
  t.match(asProxy.stderr, /outrider capture: iptables-save was refused .*run capture as root with CAP_NET_ADMIN/);

  const noIptables = inNs([process.execPath, BIN, 'capture', ...FLAGS], { PATH: '/nonexistent' });
  t.equal(noIptables.status, 1, 'no iptables: exit 1');
  t.match(noIptables.stderr, /iptables-save not found on PATH: install iptables/);

  const usage = capture('--proxy-uid', '65532');
  t.equal(usage.status, 2, 'bad flags: exit 2, as every usage error of the CLI');
  t.match(usage.stderr, /missing --outbound-listener, --inbound-listener\nUsage: outrider capture/);
  t.equal(natRules(), rules, 'no failed run changed anything');

  const help = capture('--help');
  t.equal(help.status, 0);
  t.match(help.stdout, /^Usage: outrider capture --proxy-uid UID/);
});
