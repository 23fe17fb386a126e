# Usage: awk -f unallowed-skips.awk allowed-skips.txt skipped.tsv
# Prints the skipped tests of skipped.tsv (lines "test-file<TAB>name # SKIP reason", from
# skipped-tests.awk) that no entry of the allow-list covers. An entry is a test file, white
# space, then an extended regular expression matched against "name # SKIP reason"; blank lines
# and lines starting with # are comments. Entries that covered nothing are noted on stderr, so a
# stale entry (which would let a future skip through) gets seen.

FILENAME == ARGV[1] {
  if ($0 ~ /^[ \t]*(#|$)/) next
  if (!match($0, /^[^ \t]+[ \t]+[^ \t]/)) {
    printf "%s:%d: expected \"test-file pattern\", got: %s\n", FILENAME, FNR, $0 > "/dev/stderr"
    bad = 1
    next
  }
  n++
  files[n] = $1
  patterns[n] = substr($0, RLENGTH)
  sub(/[ \t]+$/, "", patterns[n])
  lines[n] = FNR
  next
}

$0 != "" {
  tab = index($0, "\t")
  file = substr($0, 1, tab - 1)
  test = substr($0, tab + 1)
  for (i = 1; i <= n; i++) {
    if (files[i] == file && test ~ patterns[i]) {
      used[i] = 1
      next
    }
  }
  print
}

END {
  for (i = 1; i <= n; i++) {
    if (!used[i]) printf "CI: note: %s:%d allows a skip that did not happen: %s %s\n", ARGV[1], lines[i], files[i], patterns[i] > "/dev/stderr"
  }
  if (bad) exit 2
}
