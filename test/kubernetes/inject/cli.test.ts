/**
 * `bin/outrider inject` run as a process, as a user pipes it: YAML on stdin or from a file,
 * YAML on stdout, the summary on stderr, and the exit codes (0 done, 1 nothing written,
 * 2 usage). Runs the built dist/ (npm run build), like every test of bin/outrider.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { BIN } from '../../e2e/process.js';

const FIXTURE = fileURLToPath(new URL('fixtures/app.yaml', import.meta.url));
const EXPECTED = readFileSync(new URL('fixtures/app.injected.yaml', import.meta.url), 'utf8');

interface Ran {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

function run(args: readonly string[], stdin?: string): Promise<Ran> {
  const child = spawn(process.execPath, [BIN, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  child.stdin.end(stdin ?? '');
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
}

t.test('stdin to stdout: `outrider inject -` and `outrider inject`', async (t) => {
  for (const args of [['inject', '-'], ['inject']]) {
    const ran = await run(args, readFileSync(FIXTURE, 'utf8'));
    t.equal(ran.code, 0, `${args.join(' ')}: exit 0`);
    t.equal(ran.stdout, EXPECTED, `${args.join(' ')}: the injected YAML on stdout`);
    t.match(ran.stderr, /stdin: document 6, Deployment legacy: skipped \(outrider\.io\/inject: disabled\)/);
    t.match(ran.stderr, /outrider inject: 4 pod template\(s\) injected, 2 skipped\n$/);
  }
});

t.test('a file, with -f too, and the flags reach the pods', async (t) => {
  const plain = await run(['inject', FIXTURE]);
  t.equal(plain.stdout, EXPECTED);
  const flagged = await run(['inject', '-f', FIXTURE, '--policy', 'team-policy', '--capture', '--image=registry.example/outrider:9']);
  t.equal(flagged.code, 0);
  t.match(flagged.stdout, /name: outrider-capture\n\s+image: registry\.example\/outrider-init:9\n/, '--capture, and the capture image follows --image');
  t.match(flagged.stdout, /name: outrider\n\s+image: registry\.example\/outrider:9\n/, '--image');
  const own = await run(['inject', FIXTURE, '--capture', '--capture-image', 'registry.example/capture:1']);
  t.match(own.stdout, /name: outrider-capture\n\s+image: registry\.example\/capture:1\n/, '--capture-image');
  t.match(flagged.stdout, /configMap:\n\s+name: team-policy\n/, '--policy');
  t.match(flagged.stdout, /configMap:\n\s+name: cache-policy\n/, 'the annotation still wins over --policy');
  const again = await run(['inject', '--capture'], flagged.stdout);
  t.equal(again.stdout, flagged.stdout, 'idempotent through the process too');
  t.match(again.stderr, /0 pod template\(s\) injected, 6 skipped/);
});

t.test('a template that cannot be injected: exit 1, nothing on stdout', async (t) => {
  const ran = await run(['inject'], readFileSync(FIXTURE, 'utf8').replace('outrider.io/proxy-memory: 512Mi', 'outrider.io/proxy-memory: lots'));
  t.equal(ran.code, 1);
  t.equal(ran.stdout, '', 'nothing a pipe into kubectl apply could half-apply');
  t.match(ran.stderr, /stdin: document 1, Deployment shop: outrider\.io\/proxy-memory: "lots" is not a Kubernetes quantity/);
  t.match(ran.stderr, /nothing written: 1 pod template\(s\) could not be injected/);
  const missing = await run(['inject', '/nonexistent/app.yaml']);
  t.equal(missing.code, 1);
  t.match(missing.stderr, /cannot read \/nonexistent\/app\.yaml: ENOENT/);
});

t.test('usage errors: exit 2 with the usage', async (t) => {
  const cases: [string[], RegExp][] = [
    [['inject', '--polcy', 'x'], /unknown flag --polcy/],
    [['inject', '--policy'], /--policy needs a value/],
    [['inject', '--policy', 'Bad_Name'], /--policy: "Bad_Name" is not a ConfigMap name/],
    [['inject', 'a.yaml', 'b.yaml'], /one FILE at most/],
    [['inject', '--capture=yes'], /--capture takes no value/],
    [['inject', '--capture', '--capture'], /--capture given twice/],
  ];
  for (const [args, message] of cases) {
    const ran = await run(args);
    t.equal(ran.code, 2, args.join(' '));
    t.match(ran.stderr, message);
    t.match(ran.stderr, /Usage: outrider inject \[FILE\|-\]/);
  }
});

t.test('the top-level usage names the new subcommands', async (t) => {
  const ran = await run(['--help']);
  t.match(ran.stdout, /outrider inject \[FILE\|-\]/);
  t.match(ran.stdout, /outrider injector --tls-cert FILE --tls-key FILE/);
});
