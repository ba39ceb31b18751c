#!/usr/bin/env bash
# tests/conformance/run.sh — runs the sandbox's Okta test programs through
# Prism, which checks every request and response against Okta's published
# OpenAPI spec, and reports each departure from it.
#
#   1. npm ci (the pinned @stoplight/prism-cli) into ./node_modules if missing
#   2. prepare-spec.js: the spec as JSON, with the changes docs/sandbox.md lists
#   3. `idflow sandbox` on 127.0.0.1 (a free port), token test-okta-token-123
#   4. two Prism proxies in front of it: strict (--errors) and lenient; and
#      front.js, which the tests call, passing each exchange through them
#      and recording it (see front.js for who goes where)
#   5. each test program with IDFLOW_TEST_OKTA_URL (front) and
#      IDFLOW_TEST_SANDBOX_URL (the sandbox, for /_sandbox/ admin calls)
#   6. report.js: violations not covered by exceptions.json, then
#      "conformance: N requests checked, M violations"
#
# Output is TAP, one line per test program ("ok" = its tests passed and no
# violation), so tests/run.sh sums it with the cmocka suites. Exit status 0
# when every line is ok. Environment: IDFLOW_BIN (default build/idflow),
# IDFLOW_TEST_BIN_DIR (default <dir of IDFLOW_BIN>/tests/unit),
# IDFLOW_OKTA_SPEC (default: spec/okta-management-openapi.yaml.gz here,
# Okta's spec as spec/SOURCE.md says, checked against SPEC_SHA256), CONFORMANCE_OUT (default <dir of IDFLOW_BIN>/conformance:
# logs of every process and the recorded exchanges). See docs/sandbox.md,
# "Conformance".
set -u

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
bin=${IDFLOW_BIN:-$root/build/idflow}
tests_dir=${IDFLOW_TEST_BIN_DIR:-$(dirname "$bin")/tests/unit}
spec=${IDFLOW_OKTA_SPEC:-}
spec_gz=$here/spec/okta-management-openapi.yaml.gz
SPEC_SHA256=291293032a071bc368f139fea20442cc72e30fe1adfcff3b9753a2b9ddfece52 # spec/SOURCE.md
out=${CONFORMANCE_OUT:-$(dirname "$bin")/conformance}
exceptions=${CONFORMANCE_EXCEPTIONS:-$here/exceptions.json}
token=test-okta-token-123 # the token tests/unit/test_sandbox_common.h sends
start_timeout=${CONFORMANCE_START_TIMEOUT:-180}
programs=(test_sandbox_okta test_sandbox_okta_events test_sandbox_okta_oauth)

pids=()
cleanup() {
  local p
  for p in "${pids[@]}"; do
    kill "$p" 2>/dev/null
  done
  for p in "${pids[@]}"; do
    wait "$p" 2>/dev/null
  done
}
trap cleanup EXIT

echo "1..${#programs[@]}"

# Every program fails with the same reason (setup could not be done).
fail_all() {
  local i=0 p
  for p in "${programs[@]}"; do
    i=$((i + 1))
    echo "not ok $i - $p: conformance setup failed: $1"
  done
  echo "conformance: 0 requests checked, setup failed: $1"
  exit 1
}

# Waits until FILE has a line matching REGEX; prints the first capture group.
wait_for() {
  local file=$1 regex=$2 pid=$3 deadline=$((SECONDS + start_timeout)) m
  while [ $SECONDS -lt $deadline ]; do
    m=$(grep -oE "$regex" "$file" 2>/dev/null | head -n 1)
    if [ -n "$m" ]; then
      echo "$m"
      return 0
    fi
    kill -0 "$pid" 2>/dev/null || return 1
    sleep 0.2
  done
  return 1
}

t0=$SECONDS
mkdir -p "$out" || fail_all "cannot create $out"
rm -f "$out"/*.log "$out"/*.jsonl

command -v node >/dev/null && command -v npm >/dev/null || fail_all "node and npm are needed (scripts/setup.sh installs them)"
node -e 'const [a, b] = process.versions.node.split(".").map(Number); process.exit(a > 18 || (a === 18 && b >= 20) ? 0 : 1)' ||
  fail_all "Prism needs Node.js >= 18.20, this is $(node --version)"
[ -x "$bin" ] || fail_all "no idflow binary at $bin"
if [ -z "$spec" ]; then
  spec=$out/okta-management-openapi.yaml
  gzip -dc "$spec_gz" >"$spec" 2>/dev/null || fail_all "cannot decompress $spec_gz"
  [ "$(sha256sum "$spec" | cut -d' ' -f1)" = "$SPEC_SHA256" ] ||
    fail_all "$spec_gz is not the spec spec/SOURCE.md names (sha256 differs)"
fi
[ -f "$spec" ] || fail_all "no spec at $spec"
for p in "${programs[@]}"; do
  [ -x "$tests_dir/$p" ] || fail_all "no test program $tests_dir/$p (build it first)"
done

# 1. the pinned packages
if [ ! -f "$here/node_modules/.package-lock.json" ] || [ "$here/package-lock.json" -nt "$here/node_modules/.package-lock.json" ]; then
  (cd "$here" && npm ci --no-audit --no-fund --loglevel=error) >"$out/npm.log" 2>&1 ||
    { sed 's/^/# /' "$out/npm.log" | tail -n 20; fail_all "npm ci failed (see $out/npm.log)"; }
fi
prism="$here/node_modules/@stoplight/prism-cli/dist/index.js"
[ -f "$prism" ] || fail_all "Prism is not installed in $here/node_modules"

# 2. the spec Prism can load
node "$here/prepare-spec.js" "$spec" "$out/okta-openapi.json" "$exceptions" >"$out/prepare-spec.log" 2>&1 ||
  { sed 's/^/# /' "$out/prepare-spec.log"; fail_all "prepare-spec.js failed"; }
echo "# $(cat "$out/prepare-spec.log")"

# 3. the sandbox
"$bin" sandbox --listen 127.0.0.1:0 --token "$token" >"$out/sandbox.log" 2>&1 &
pids+=($!)
sandbox_pid=$!
sandbox=$(wait_for "$out/sandbox.log" '"url":"http://127\.0\.0\.1:[0-9]+' $sandbox_pid) || fail_all "the sandbox did not start (see $out/sandbox.log)"
sandbox=${sandbox#\"url\":\"}

# 4. the two Prisms and the front
node "$prism" proxy "$out/okta-openapi.json" "$sandbox" --errors -h 127.0.0.1 -p 0 >"$out/prism-strict.log" 2>&1 &
pids+=($!)
strict_pid=$!
node "$prism" proxy "$out/okta-openapi.json" "$sandbox" -h 127.0.0.1 -p 0 >"$out/prism-lenient.log" 2>&1 &
pids+=($!)
lenient_pid=$!
strict=$(wait_for "$out/prism-strict.log" 'Prism is listening on http://127\.0\.0\.1:[0-9]+' $strict_pid) ||
  fail_all "Prism (strict) did not start (see $out/prism-strict.log)"
lenient=$(wait_for "$out/prism-lenient.log" 'Prism is listening on http://127\.0\.0\.1:[0-9]+' $lenient_pid) ||
  fail_all "Prism (lenient) did not start (see $out/prism-lenient.log)"
strict=${strict#Prism is listening on }
lenient=${lenient#Prism is listening on }
: >"$out/exchanges.jsonl"
node "$here/front.js" --strict "$strict" --lenient "$lenient" --sandbox "$sandbox" --log "$out/exchanges.jsonl" \
  >"$out/front.log" 2>&1 &
pids+=($!)
front=$(wait_for "$out/front.log" 'front listening on http://127\.0\.0\.1:[0-9]+' $!) || fail_all "front.js did not start"
front=${front#front listening on }
echo "# sandbox $sandbox, Prism $strict (strict) and $lenient (lenient), front $front; ready in $((SECONDS - t0)) s"

# Requests a Prism received, from its own log.
received() { grep -c 'Request received' "$1"; }

# 5 and 6. each program, then its exchanges
i=0
failed=0
for p in "${programs[@]}"; do
  i=$((i + 1))
  before=$(wc -l <"$out/exchanges.jsonl")
  s0=$(received "$out/prism-strict.log")
  l0=$(received "$out/prism-lenient.log")
  ts=$SECONDS
  IDFLOW_TEST_OKTA_URL=$front IDFLOW_TEST_SANDBOX_URL=$sandbox IDFLOW_SRC=$root CMOCKA_MESSAGE_OUTPUT=TAP \
    timeout "${CONFORMANCE_PROGRAM_TIMEOUT:-600}" "$tests_dir/$p" >"$out/$p.log" 2>&1
  rc=$?
  tail -n +"$((before + 1))" "$out/exchanges.jsonl" >"$out/$p.jsonl"
  # Cross-check with Prism's own logs: every exchange recorded as checked
  # reached the strict Prism, and every second try the lenient one.
  want_s=$(grep -c '"via":"prism' "$out/$p.jsonl")
  want_l=$(grep -c '"via":"prism-lenient"' "$out/$p.jsonl")
  for _ in $(seq 50); do # Prism writes its log asynchronously: give it a moment
    got_s=$(($(received "$out/prism-strict.log") - s0))
    got_l=$(($(received "$out/prism-lenient.log") - l0))
    [ "$got_s" -eq "$want_s" ] && [ "$got_l" -eq "$want_l" ] && break
    sleep 0.1
  done
  if [ "$got_s" -ne "$want_s" ] || [ "$got_l" -ne "$want_l" ]; then
    echo "# $p: Prism's logs show $got_s/$got_l requests (strict/lenient), the front recorded $want_s/$want_l"
    rc=99
  fi
  passed=$(grep -cE '^ok [0-9]+' "$out/$p.log")
  total=$(grep -cE '^(not )?ok [0-9]+' "$out/$p.log")
  verdict=$(node "$here/report.js" "$exceptions" "$out/$p.jsonl" --label "$p")
  vrc=$?
  summary=$(echo "$verdict" | tail -n 1)
  if [ $rc -eq 0 ] && [ $vrc -eq 0 ]; then
    echo "ok $i - $p: $passed/$total tests passed; ${summary#"$p": } ($((SECONDS - ts)) s)"
  else
    failed=$((failed + 1))
    echo "not ok $i - $p: $passed/$total tests passed (exit $rc); ${summary#"$p": } ($((SECONDS - ts)) s)"
    grep -E '^not ok|^# (ERROR|FAIL|error|fail)|Failure|wanted|:[0-9]+: error' "$out/$p.log" | head -n 20 | sed 's/^/#   /'
    echo "$verdict" | head -n -1 | head -n 40 | sed 's/^/#   /'
  fi
done

# The sandbox stops cleanly on SIGTERM (exit 0); under ASan/UBSan its log
# would hold any report (a build with -fsanitize is checked this way too).
kill "$sandbox_pid" 2>/dev/null
wait "$sandbox_pid"
src=$?
if [ $src -ne 0 ] || grep -qE 'Sanitizer|runtime error' "$out/sandbox.log"; then
  echo "# the sandbox exited with status $src or reported an error (see $out/sandbox.log):"
  grep -E -A 12 'ERROR|Sanitizer|runtime error' "$out/sandbox.log" | head -n 40 | sed 's/^/#   /'
  failed=$((failed + 1))
fi

node "$here/report.js" "$exceptions" "$out/exchanges.jsonl" --summary | sed -e '/^conformance:/!s/^/# /'
echo "# conformance took $((SECONDS - t0)) s; logs in $out"
[ $failed -eq 0 ]
