/**
 * The breaker's state machine on a hand-moved clock: every transition is reached by counting
 * calls and moving time, never by sleeping.
 */
import t from 'tap';
import { BreakerStateMachine, type Admission, type BreakerSettings, type BreakerState } from '../../../src/policies/circuit-breaker/state.js';

const SETTINGS: BreakerSettings = { failureRatio: 0.5, minRequests: 4, windowMs: 10_000, openForMs: 5_000, halfOpenRequests: 2 };

function breaker(settings: Partial<BreakerSettings> = {}) {
  const clock = { ms: 0, now: () => clock.ms };
  const machine = new BreakerStateMachine({ ...SETTINGS, ...settings }, clock);
  const transitions: string[] = [];
  machine.onTransition((from: BreakerState, to: BreakerState) => transitions.push(`${from}→${to}`));
  /** Admit one call and record its verdict at once. */
  const call = (verdict: 'success' | 'failure' | 'ignored'): boolean => {
    const admission = machine.admit();
    if (admission === undefined) return false;
    machine.record(admission, verdict);
    return true;
  };
  return { clock, machine, transitions, call };
}

function admitted(admission: Admission | undefined): Admission {
  if (admission === undefined) throw new Error('expected the call to be admitted');
  return admission;
}

t.test('stays closed below minRequests, whatever the ratio', async (t) => {
  const { machine, call } = breaker();
  for (let i = 0; i < 3; i++) call('failure');
  t.equal(machine.state, 'closed', '3 failures of 3 calls, minRequests 4');
  t.equal(machine.snapshot().failures, 3);
});

t.test('opens at the ratio (≥, not >) once minRequests calls finished', async (t) => {
  const { machine, call, transitions } = breaker();
  call('failure');
  call('success');
  call('failure');
  t.equal(machine.state, 'closed');
  call('success'); // 2 of 4 = 0.5: a success brings the calls to minRequests at the ratio
  t.equal(machine.state, 'open');
  t.same(transitions, ['closed→open']);
  t.match(machine.snapshot().lastOpened, /2 of 4 calls failed in 10 s: ratio 0.5 ≥ 0.5, minRequests 4/);
});

t.test('below the ratio it stays closed', async (t) => {
  const { machine, call } = breaker();
  call('failure');
  for (let i = 0; i < 3; i++) call('success');
  t.equal(machine.state, 'closed', '1 of 4 = 0.25 < 0.5');
});

t.test('open refuses every call until openFor has passed', async (t) => {
  const { machine, clock, call } = breaker();
  for (let i = 0; i < 4; i++) call('failure');
  t.equal(machine.admit(), undefined);
  clock.ms += 2_000;
  t.equal(machine.msUntilHalfOpen(), 3_000);
  t.equal(machine.snapshot().secondsUntilHalfOpen, 3);
  t.match(machine.describeRefusal(), /half-open in 3\.0 s/);
  clock.ms += 2_999;
  t.equal(machine.admit(), undefined, 'still open 1 ms before openFor');
  clock.ms += 1;
  t.equal(machine.state, 'half-open');
});

t.test('half-open admits exactly halfOpenRequests probes and closes when all succeed', async (t) => {
  const { machine, clock, call, transitions } = breaker({ halfOpenRequests: 3 });
  for (let i = 0; i < 4; i++) call('failure');
  clock.ms += 5_000;
  const probes = [machine.admit(), machine.admit(), machine.admit()].map(admitted);
  t.equal(machine.admit(), undefined, 'a fourth call is refused while three probes are out');
  t.same(machine.snapshot().probes, { allowed: 3, inFlight: 3, succeeded: 0 });
  t.match(machine.describeRefusal(), /3\/3 probes already admitted/);
  machine.record(probes[0] as Admission, 'success');
  machine.record(probes[1] as Admission, 'success');
  t.equal(machine.state, 'half-open', 'two of three probes succeeded');
  t.equal(machine.admit(), undefined, 'a succeeded probe does not free a place');
  machine.record(probes[2] as Admission, 'success');
  t.equal(machine.state, 'closed');
  t.same(transitions, ['closed→open', 'open→half-open', 'half-open→closed']);
  t.equal(machine.snapshot().calls, 0, 'the window starts empty after closing');
});

t.test('a failed probe reopens for another openFor', async (t) => {
  const { machine, clock, call, transitions } = breaker();
  for (let i = 0; i < 4; i++) call('failure');
  clock.ms += 5_000;
  const first = admitted(machine.admit());
  const second = admitted(machine.admit());
  machine.record(first, 'failure');
  t.equal(machine.state, 'open');
  t.equal(machine.msUntilHalfOpen(), 5_000);
  machine.record(second, 'success');
  t.equal(machine.state, 'open', 'the other probe, now stale, changes nothing');
  t.same(transitions, ['closed→open', 'open→half-open', 'half-open→open']);
  t.equal(machine.snapshot().lastOpened, 'a half-open probe failed');
});

t.test('a probe cancelled from outside frees its place for another probe', async (t) => {
  const { machine, clock, call } = breaker({ halfOpenRequests: 1 });
  for (let i = 0; i < 4; i++) call('failure');
  clock.ms += 5_000;
  const probe = admitted(machine.admit());
  t.equal(machine.admit(), undefined);
  machine.record(probe, 'ignored');
  t.equal(machine.state, 'half-open');
  t.ok(call('success'), 'another probe is admitted and closes the breaker');
  t.equal(machine.state, 'closed');
});

t.test('ignored calls do not count in the window', async (t) => {
  const { machine, call } = breaker();
  for (let i = 0; i < 10; i++) call('ignored');
  call('failure');
  t.same([machine.snapshot().calls, machine.snapshot().failures], [1, 1]);
});

t.test('a call admitted while closed that settles after the breaker opened is dropped', async (t) => {
  const { machine, clock, call } = breaker();
  const slow = admitted(machine.admit());
  for (let i = 0; i < 4; i++) call('failure');
  clock.ms += 5_000;
  t.equal(machine.state, 'half-open');
  machine.record(slow, 'failure');
  t.equal(machine.state, 'half-open', 'a verdict from before the transition does not reopen');
});

t.test('failures leave the window as it slides', async (t) => {
  const { machine, clock, call } = breaker();
  call('failure');
  call('failure');
  call('failure');
  clock.ms += 10_000; // the three failures are now out of the window
  call('success');
  t.same([machine.snapshot().calls, machine.snapshot().failures], [1, 0]);
  call('failure');
  call('success');
  call('success');
  t.equal(machine.state, 'closed', '1 of 4 in the window');
});

t.test('elapsedMs measures from admission on the same clock', async (t) => {
  const { machine, clock } = breaker();
  const admission = admitted(machine.admit());
  clock.ms += 1_234;
  t.equal(machine.elapsedMs(admission), 1_234);
});
