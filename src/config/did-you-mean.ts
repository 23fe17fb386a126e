/**
 * "Did you mean" hints for unknown keys and names. Uses the optimal-string-alignment variant of
 * Damerau-Levenshtein distance, so a swapped pair of letters (`tiemout`) costs 1 like any other
 * single typo, which is how people mistype.
 */

/** Edit distance between two strings: insertions, deletions, substitutions and adjacent swaps. */
export function editDistance(a: string, b: string): number {
  // Three rolling rows: the swap rule looks two rows back.
  let beforePrevious: number[] = [];
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min(at(previous, j) + 1, at(current, j - 1) + 1, at(previous, j - 1) + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        best = Math.min(best, at(beforePrevious, j - 2) + 1);
      }
      current.push(best);
    }
    beforePrevious = previous;
    previous = current;
  }
  return at(previous, b.length);
}

/**
 * The candidate closest to `input`, if it is close enough to be a plausible typo: within
 * max(2, a third of the input's length), and not so far that every character would change
 * (which would suggest `on` for `x`). Case is ignored when measuring: `pathprefix` → `pathPrefix`.
 */
export function didYouMean(input: string, candidates: Iterable<string>): string | undefined {
  const threshold = Math.max(2, Math.floor(input.length / 3));
  let best: { candidate: string; distance: number } | undefined;
  for (const candidate of candidates) {
    if (candidate === input) continue;
    const distance = editDistance(input.toLowerCase(), candidate.toLowerCase());
    const plausible = distance <= threshold && distance < Math.max(input.length, candidate.length);
    if (plausible && (best === undefined || distance < best.distance)) best = { candidate, distance };
  }
  return best?.candidate;
}

/** ` (did you mean "x"?)` or an empty string, ready to append to a message. */
export function hintFor(input: string, candidates: Iterable<string>): string {
  const suggestion = didYouMean(input, candidates);
  return suggestion === undefined ? '' : ` (did you mean ${JSON.stringify(suggestion)}?)`;
}

function at(row: readonly number[], index: number): number {
  return row[index] ?? Number.POSITIVE_INFINITY;
}
