/**
 * How `outrider capture` drives iptables and reports its failures, in-process with stand-in
 * iptables-save / iptables-restore scripts first on PATH (they record what they were given and
 * fail on demand), so nothing here can touch a real rule. The real binaries, in a namespace,
 * are test/capture/cli.test.ts's.
 */
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { applyCapture, CaptureError } from '../../src/capture/apply.js';
import { capture } from '../../src/capture/cli.js';
import { parseCaptureArgs } from '../../src/capture/options.js';

const FLAGS = ['--proxy-uid', '65532', '--outbound-listener', '15001', '--inbound-listener', '15006'];
const dir = mkdtempSync(join(tmpdir(), 'outrider-fake-iptables-'));
const originalPath = process.env.PATH;
t.teardown(() => {
  process.env.PATH = originalPath;
  rmSync(dir, { recursive: true, force: true });
});
process.env.PATH = dir;

/** A stand-in: prints `out` to stdout, `err` to stderr, exits `code`; records argv and stdin. */
function fake(name: string, { out = '', err = '', code = 0 } = {}): void {
  const file = join(dir, name);
  writeFileSync(file, `#!/bin/sh\nPATH=/usr/bin:/bin\necho "$@" > "${file}.args"\ncat > "${file}.stdin"\nprintf '%s' '${out}'\nprintf '%s' '${err}' >&2\nexit ${code}\n`);
  chmodSync(file, 0o755);
}
const recorded = (name: string, what: 'args' | 'stdin'): string => readFileSync(join(dir, `${name}.${what}`), 'utf8');

/** Run the CLI entry in-process, collecting what it writes and its exit code. */
async function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const write = { out: process.stdout.write, err: process.stderr.write };
  process.stdout.write = ((chunk: string) => (out.push(chunk), true)) as typeof process.stdout.write;
  process.stderr.write = ((chunk: string) => (err.push(chunk), true)) as typeof process.stderr.write;
  const before = process.exitCode;
  try {
    capture(args);
    return { code: Number(process.exitCode ?? 0), stdout: out.join(''), stderr: err.join('') };
  } finally {
    process.stdout.write = write.out;
    process.stderr.write = write.err;
    process.exitCode = before;
  }
}

t.test('one save to see the jumps, one restore with everything else', async (t) => {
  fake('iptables-save', { out: '*nat\n-A PREROUTING -p tcp -j OUTRIDER_INBOUND\nCOMMIT\n' });
  fake('iptables-restore');
  const input = applyCapture(parseCaptureArgs(FLAGS));
  t.equal(recorded('iptables-save', 'args').trim(), '-t nat');
  t.equal(recorded('iptables-restore', 'args').trim(), '--noflush --wait', 'noflush: only our chains change; wait: share the xtables lock');
  t.equal(recorded('iptables-restore', 'stdin'), input, 'the input goes in one call');
  t.notOk(input.includes('-A PREROUTING'), 'the jump already there is not added again');
  t.ok(input.includes('-A OUTPUT -p tcp -j OUTRIDER_OUTPUT'), 'the missing one is');
});

t.test('failures say what to do', async (t) => {
  fake('iptables-save', { err: 'iptables-save v1.8.9 (nf_tables): Could not fetch rule set generation id: Permission denied (you must be root)', code: 4 });
  t.throws(() => applyCapture(parseCaptureArgs(FLAGS)), { name: CaptureError.name, message: /^iptables-save was refused \(iptables-save v1\.8\.9 .*you must be root\)\): run capture as root with CAP_NET_ADMIN/ });
  fake('iptables-save');
  fake('iptables-restore', { err: 'iptables-restore: line 7 failed', code: 1 });
  t.throws(() => applyCapture(parseCaptureArgs(FLAGS)), { message: 'iptables-restore --noflush --wait failed (exit 1): iptables-restore: line 7 failed' });
  writeFileSync(join(dir, 'iptables-restore'), '#!/bin/sh\n/bin/cat > /dev/null\nkill -KILL $$\n');
  t.throws(() => applyCapture(parseCaptureArgs(FLAGS)), { message: 'iptables-restore --noflush --wait failed (signal SIGKILL): ' }, 'killed');
  chmodSync(join(dir, 'iptables-save'), 0o644);
  t.throws(() => applyCapture(parseCaptureArgs(FLAGS)), { message: /^iptables-save could not run: spawnSync iptables-save EACCES/ }, 'not executable');
  rmSync(join(dir, 'iptables-save'));
  t.throws(() => applyCapture(parseCaptureArgs(FLAGS)), { message: /^iptables-save not found on PATH: install iptables/ });
});

t.test('the CLI: exit codes and what it prints', async (t) => {
  const dry = await cli([...FLAGS, '--dry-run']);
  t.equal(dry.code, 0);
  t.match(dry.stdout, /^# outrider capture: .*\n\*nat\n/);
  t.equal(dry.stderr, '');

  fake('iptables-save');
  fake('iptables-restore');
  const applied = await cli(FLAGS);
  t.equal(applied.code, 0, 'applied: 0');
  t.equal(applied.stdout, recorded('iptables-restore', 'stdin'), 'prints what it applied (the init container log shows it)');
  t.match(applied.stderr, /rules applied/);

  fake('iptables-restore', { err: 'Permission denied (you must be root)', code: 4 });
  const refused = await cli(FLAGS);
  t.equal(refused.code, 1, 'iptables refused: 1');
  t.match(refused.stderr, /^outrider capture: iptables-restore was refused/);

  const usage = await cli(['--proxy-uid', 'x', ...FLAGS.slice(2)]);
  t.equal(usage.code, 2, 'usage: 2');
  t.match(usage.stderr, /^outrider capture: --proxy-uid: "x" is not a number from 0 to 4294967294\nUsage: outrider capture/);

  const help = await cli(['-h']);
  t.equal(help.code, 0);
  t.match(help.stdout, /^Usage: outrider capture/);
});
