/**
 * `outrider capture` without iptables: its flags (options.ts) and the iptables-restore input
 * they make (rules.ts), rule by rule and in order. What the kernel does with the rules is
 * test/capture/netns.test.ts's part.
 */
import t from 'tap';
import { CaptureUsageError, METADATA_CIDRS, parseCaptureArgs } from '../../src/capture/options.js';
import { JUMPS, jumpsIn, restoreInput } from '../../src/capture/rules.js';

const BASE = ['--proxy-uid', '65532', '--outbound-listener', '15001', '--inbound-listener', '15006'];

const rulesOf = (args: string[]): string[] => restoreInput(parseCaptureArgs([...BASE, ...args])).split('\n').filter((l) => l.startsWith('-A'));

t.test('flags: defaults, both spellings, lists', async (t) => {
  const o = parseCaptureArgs(BASE);
  t.same(o.outboundPorts, { kind: 'all' }, 'outbound ports default to all (as Istio and Linkerd)');
  t.same(o.inboundPorts, { kind: 'all' });
  t.same(o.excludeOutboundCidrs, METADATA_CIDRS, 'the metadata addresses are excluded by default');
  t.equal(o.dryRun, false);
  const p = parseCaptureArgs([...BASE, '--outbound-ports=80, 8080,80', '--inbound-ports', '', '--exclude-outbound-cidrs', '10.1.2.3/8,192.0.2.7', '--dry-run']);
  t.same(p.outboundPorts, { kind: 'list', ports: [80, 8080] }, '--flag=value, spaces and repeats tolerated');
  t.same(p.inboundPorts, { kind: 'list', ports: [] }, 'an empty list captures nothing');
  t.same(p.excludeOutboundCidrs, [...METADATA_CIDRS, '10.0.0.0/8', '192.0.2.7/32'], 'networks as iptables-save prints them');
  t.equal(p.dryRun, true);
  t.same(parseCaptureArgs([...BASE, '--exclude-outbound-cidrs', '169.254.169.254']).excludeOutboundCidrs, METADATA_CIDRS, 'a default given again is not doubled');
});

t.test('flags: every mistake is a usage error that names the flag', async (t) => {
  const cases: [string[], RegExp][] = [
    [[], /missing --proxy-uid, --outbound-listener, --inbound-listener/],
    [['--proxy-uid', '65532'], /missing --outbound-listener, --inbound-listener/],
    [[...BASE, '--bogus', '1'], /unknown argument --bogus/],
    [[...BASE, 'extra'], /unknown argument extra/],
    [[...BASE, '--outbound-ports'], /--outbound-ports needs a value/],
    [[...BASE, '--proxy-uid', '1'], /--proxy-uid is given twice/],
    [['--proxy-uid', 'nobody', ...BASE.slice(2)], /--proxy-uid: "nobody" is not a number/],
    [['--proxy-uid', '0', ...BASE.slice(2)], /must not run as root/],
    [['--proxy-uid', '1', '--outbound-listener', '70000', '--inbound-listener', '15006'], /--outbound-listener: "70000" is not a number from 1 to 65535/],
    [[...BASE, '--inbound-ports', '80,http'], /--inbound-ports: "http"/],
    [[...BASE, '--exclude-inbound-ports', '0'], /--exclude-inbound-ports: "0"/],
    [[...BASE, '--exclude-outbound-cidrs', '10.0.0.0/33'], /"10\.0\.0\.0\/33" is not an IPv4 address/],
    [[...BASE, '--exclude-outbound-cidrs', 'fd00::/8'], /not an IPv4 address/],
    [[...BASE, '--exclude-outbound-cidrs', '10.0.0.256'], /not an IPv4 address/],
  ];
  for (const [args, message] of cases) t.throws(() => parseCaptureArgs(args), { name: CaptureUsageError.name, message }, args.join(' '));
});

t.test('outbound: the proxy uid and loopback first, then exclusions, then the ports', async (t) => {
  const rules = rulesOf(['--outbound-ports', '80,8080', '--exclude-outbound-ports', '5432', '--exclude-outbound-cidrs', '10.96.0.0/12']);
  t.same(
    rules.filter((r) => r.includes('OUTRIDER_OUTPUT ') || r.startsWith('-A OUTRIDER_REDIRECT')),
    [
      '-A OUTRIDER_OUTPUT -m owner --uid-owner 65532 -j RETURN',
      '-A OUTRIDER_OUTPUT -o lo -j RETURN',
      '-A OUTRIDER_OUTPUT -d 169.254.169.254/32 -j RETURN',
      '-A OUTRIDER_OUTPUT -d 169.254.170.2/32 -j RETURN',
      '-A OUTRIDER_OUTPUT -d 10.96.0.0/12 -j RETURN',
      '-A OUTRIDER_OUTPUT -p tcp -m tcp --dport 5432 -j RETURN',
      '-A OUTRIDER_OUTPUT -p tcp -m tcp --dport 80 -j OUTRIDER_REDIRECT',
      '-A OUTRIDER_OUTPUT -p tcp -m tcp --dport 8080 -j OUTRIDER_REDIRECT',
      '-A OUTRIDER_REDIRECT -p tcp -j REDIRECT --to-ports 15001',
    ],
  );
  t.ok(rulesOf([]).includes('-A OUTRIDER_OUTPUT -p tcp -j OUTRIDER_REDIRECT'), 'all: every TCP port');
  t.notOk(rulesOf(['--outbound-ports', '']).some((r) => r.endsWith('-j OUTRIDER_REDIRECT')), 'none: nothing reaches the redirect chain');
});

t.test('inbound: the listeners and excluded ports return, the listed ports are redirected', async (t) => {
  const rules = rulesOf(['--inbound-ports', '8080,9090', '--exclude-inbound-ports', '9901']);
  t.same(
    rules.filter((r) => r.includes('OUTRIDER_INBOUND ') || r.startsWith('-A OUTRIDER_IN_REDIRECT')),
    [
      '-A OUTRIDER_INBOUND -p tcp -m tcp --dport 15006 -j RETURN',
      '-A OUTRIDER_INBOUND -p tcp -m tcp --dport 15001 -j RETURN',
      '-A OUTRIDER_INBOUND -p tcp -m tcp --dport 9901 -j RETURN',
      '-A OUTRIDER_INBOUND -p tcp -m tcp --dport 8080 -j OUTRIDER_IN_REDIRECT',
      '-A OUTRIDER_INBOUND -p tcp -m tcp --dport 9090 -j OUTRIDER_IN_REDIRECT',
      '-A OUTRIDER_IN_REDIRECT -p tcp -j REDIRECT --to-ports 15006',
    ],
  );
  t.ok(rulesOf([]).includes('-A OUTRIDER_INBOUND -p tcp -j OUTRIDER_IN_REDIRECT'), 'all: every TCP port');
});

t.test('the input: own chains declared (so flushed), jumps only when missing, one COMMIT', async (t) => {
  const input = restoreInput(parseCaptureArgs(BASE));
  const lines = input.trimEnd().split('\n');
  t.match(lines[0], /^# outrider capture: proxy uid 65532/, 'a comment says what it is (iptables-restore skips it)');
  t.equal(lines[1], '*nat');
  t.same(lines.slice(2, 6), [':OUTRIDER_INBOUND - [0:0]', ':OUTRIDER_IN_REDIRECT - [0:0]', ':OUTRIDER_OUTPUT - [0:0]', ':OUTRIDER_REDIRECT - [0:0]']);
  t.same(lines.slice(-3), [...JUMPS, 'COMMIT'], 'with nothing known, both jumps');
  t.notOk(/^:(PREROUTING|OUTPUT|INPUT|POSTROUTING)/m.test(input), 'built-in chains are not declared (that would flush them)');
  const saved = `*nat\n:PREROUTING ACCEPT [3:180]\n-A PREROUTING -p tcp -j OUTRIDER_INBOUND\n-A OUTPUT -p udp -j OUTRIDER_OUTPUT\nCOMMIT\n`;
  const present = jumpsIn(saved);
  t.same([...present], [JUMPS[0]], 'a jump is recognised only in its exact form');
  const again = restoreInput(parseCaptureArgs(BASE), present);
  t.notOk(again.includes(JUMPS[0]), 'a jump already there is not added twice');
  t.ok(again.includes(JUMPS[1]), 'the missing one is added');
});
