import t from 'tap';
import { didYouMean, editDistance, hintFor } from '../../src/config/did-you-mean.js';

t.test('edit distance counts insertions, deletions, substitutions and swaps', async (t) => {
  t.equal(editDistance('', ''), 0);
  t.equal(editDistance('abc', ''), 3);
  t.equal(editDistance('', 'abc'), 3);
  t.equal(editDistance('timeout', 'timeout'), 0);
  t.equal(editDistance('timout', 'timeout'), 1, 'deletion');
  t.equal(editDistance('timeoutt', 'timeout'), 1, 'insertion');
  t.equal(editDistance('tameout', 'timeout'), 1, 'substitution');
  t.equal(editDistance('tiemout', 'timeout'), 1, 'adjacent swap counts once');
  t.equal(editDistance('kitten', 'sitting'), 3);
});

t.test('suggests the closest key within the threshold', async (t) => {
  const retryKeys = ['attempts', 'perTryTimeout', 'on', 'backoff', 'budget', 'methods'];
  t.equal(didYouMean('perTryTimout', retryKeys), 'perTryTimeout');
  t.equal(didYouMean('atempts', retryKeys), 'attempts');
  t.equal(didYouMean('method', retryKeys), 'methods');
  t.equal(didYouMean('pertrytimeout', retryKeys), 'perTryTimeout', 'case is ignored');
  t.equal(didYouMean('listners', ['version', 'listeners', 'upstreams']), 'listeners');
  t.equal(didYouMean('upstream', ['upstreams', 'routes']), 'upstreams');
});

t.test('no suggestion when nothing is close', async (t) => {
  t.equal(didYouMean('timeout', ['attempts', 'perTryTimeout', 'on', 'backoff']), undefined);
  t.equal(didYouMean('x', ['on']), undefined, 'a one-letter key is not a typo of a two-letter one');
  t.equal(didYouMean('colour', []), undefined);
  t.equal(didYouMean('on', ['on']), undefined, 'an exact match needs no hint');
});

t.test('the threshold grows with the length of the input', async (t) => {
  // 15 letters: up to 5 edits.
  t.equal(didYouMean('halfOpenRequsts', ['halfOpenRequests']), 'halfOpenRequests');
  t.equal(didYouMean('hlfOpnRqusts', ['halfOpenRequests']), 'halfOpenRequests', '4 edits on 12 letters: within a third');
  t.equal(didYouMean('hlfOpnRqsts', ['halfOpenRequests']), undefined, '5 edits on 11 letters is too many');
});

t.test('hintFor formats the suggestion for a message', async (t) => {
  t.equal(hintFor('stdot', ['stdout', 'off']), ' (did you mean "stdout"?)');
  t.equal(hintFor('zzz', ['stdout', 'off']), '');
});
