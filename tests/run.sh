#!/usr/bin/env bash
# Runs every test binary given on the command line and sums their results.
#
# Each binary is a cmocka suite run with TAP output; a suite that crashes, or
# exits non-zero without reporting a failure, counts one failure of its own.
# Prints one line per suite, then, as the very last line:
#     N passed, M failed
# Exit status: 0 when M is 0, 1 otherwise.
set -u

passed=0
failed=0
logdir=${TEST_LOG_DIR:-$(mktemp -d)}
mkdir -p "$logdir"

for bin in "$@"; do
  name=$(basename "$bin")
  log="$logdir/$name.log"
  start=$(date +%s.%N)
  CMOCKA_MESSAGE_OUTPUT=TAP timeout "${TEST_TIMEOUT:-900}" "$bin" >"$log" 2>&1
  rc=$?
  end=$(date +%s.%N)
  p=$(grep -cE '^ok [0-9]+' "$log")
  f=$(grep -cE '^not ok [0-9]+' "$log")
  if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
    f=1
    echo "  $name exited with status $rc without a failed test: counted as one failure"
  fi
  passed=$((passed + p))
  failed=$((failed + f))
  printf '%-28s %4d passed %3d failed  (%.1fs)\n' "$name" "$p" "$f" "$(awk -v a="$start" -v b="$end" 'BEGIN{print b-a}')"
  if [ "$f" -ne 0 ]; then
    # the failed tests first (a long suite's, such as the PostgreSQL runner's, may end
    # far from them), each with the lines cmocka printed after it
    echo "---- $name: the failed tests ----"
    grep -n -A 6 -E '^not ok' "$log" | head -n 80
    echo "---- $name output (last 60 lines) ----"
    tail -n 60 "$log"
    echo "----"
  fi
done

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
