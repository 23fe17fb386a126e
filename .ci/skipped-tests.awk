# Lists the tests that did not count from tap's raw TAP output (`tap --reporter=tap`): every
# test point at any depth whose result line carries a SKIP or TODO directive,
#   ok 3 - name # SKIP reason        (t.skip, { skip: 'reason' })
#   ok 4 - name # TODO reason        (t.todo, { todo: true }: runs, but a failure does not count)
# one per line as "test-file<TAB>name # SKIP reason". tap names each file's subtest after the
# file ("# Subtest: test/x.test.ts" at column 0), so the last such line is the enclosing file.
# A whole file skipped shows as a column-0 result line named after the file.

/^# Subtest: / {
  file = substr($0, length("# Subtest: ") + 1)
  next
}

/^[ \t]*(not )?ok [0-9]+.* # (SKIP|TODO)/ {
  toplevel = ($0 ~ /^(not )?ok /)
  line = $0
  sub(/^[ \t]*(not )?ok [0-9]+( - )?/, "", line)
  # tap appends " # time=12ms" to a subtest's result line; it is not part of the reason.
  sub(/ # time=[0-9.]+m?s$/, "", line)
  where = file
  if (toplevel) { where = line; sub(/ # (SKIP|TODO).*$/, "", where) }
  print where "\t" line
}
