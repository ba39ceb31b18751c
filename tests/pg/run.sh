#!/usr/bin/env bash
# tests/pg/run.sh — the PostgreSQL half of `make test`.
#
#   1. tests/pg/cluster.sh start: a throwaway cluster on 127.0.0.1 (a free
#      port), as "nobody" when run as root; stopped and removed on exit,
#      whatever happens (trap)
#   2. the store's contract suites, unchanged, against it:
#      IDFLOW_TEST_STORE_URL=postgresql://idflow@127.0.0.1:PORT/idflow?options=-csearch_path%3D%s
#      (each test gets a fresh schema: tests/support/storeurl.h); and, the
#      same way, programs of the SQLite suite whose database comes from that
#      variable (engine_fixture's group commit test, serve_fixture's end-to-end
#      tests: the six use cases, the Okta flow, concurrency caps, the API's
#      admin routes, the expression budget; test_cluster: three serve nodes on
#      one schema, one killed with kill -9; test_replay: `idflow replay` over
#      the schema) — idflow end to end on PostgreSQL
#   3. every tests/pg/test_*.c program (the backend's own tests: migrations,
#      refusals, no password in any message, claims across connections...)
#      with IDFLOW_TEST_PG_URL, the cluster's URL
#
# Output is TAP: each suite's own ok / not ok lines, passed through (named
# "pg:SUITE: TEST") so tests/run.sh counts every test; a suite that is not
# built, or exits non-zero without a failed test, adds a "not ok" line of its
# own, and so does a suite that stopped before reporting every test its
# plan ("1..N") announced (a crash). Never skipped: a missing
# PostgreSQL is a "not ok" line saying so (scripts/setup.sh installs it).
# Exit status 0 when every line is ok.
# Environment: IDFLOW_BIN (default build/idflow); the test programs are found
# under its dir (tests/unit, tests/pg, tests/integration).
set -u

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
bin=${IDFLOW_BIN:-$root/build/idflow}
build=$(dirname "$bin")
# the contract suites, and programs of the SQLite suite that take their
# database from IDFLOW_TEST_STORE_URL too (engine and serve end to end)
suites=("$build/tests/unit/test_store" "$build/tests/unit/test_store_connections" "$build/tests/unit/test_store_tokens"
  "$build/tests/unit/test_store_pace"
  "$build/tests/unit/test_engine_group_commit" "$build/tests/integration/test_usecases"
  "$build/tests/integration/test_okta_flow" "$build/tests/integration/test_concurrency"
  "$build/tests/integration/test_api_admin" "$build/tests/integration/test_expr_budget"
  "$build/tests/integration/test_cluster" "$build/tests/unit/test_engine_coord"
  "$build/tests/integration/test_subjects" "$build/tests/integration/test_inputs"
  "$build/tests/integration/test_run_subjects" "$build/tests/unit/test_store_replay"
  "$build/tests/integration/test_replay" "$build/tests/integration/test_guardrails")
# every PostgreSQL-only program, as the Makefile builds them (tests/pg/test_*.c)
for src in "$here"/test_*.c; do
  [ -e "$src" ] && suites+=("$build/tests/pg/$(basename "$src" .c)")
done
export CMOCKA_MESSAGE_OUTPUT=TAP

errf=$(mktemp)
dir=$("$here/cluster.sh" start 2>"$errf")
if [ -z "$dir" ]; then
  echo "not ok 1 - postgresql: the test cluster did not start: $(tr '\n' ' ' <"$errf")"
  rm -f "$errf"
  exit 1
fi
rm -f "$errf"
trap '"$here/cluster.sh" stop "$dir"' EXIT
trap 'exit 143' INT TERM # so that EXIT runs too when tests/run.sh's timeout stops us
url=$("$here/cluster.sh" url "$dir")
echo "# postgresql: test cluster at $url"

status=0
for s in "${suites[@]}"; do
  name=$(basename "$s")
  if [ ! -x "$s" ]; then
    echo "not ok 1 - pg:$name: not built ($s)"
    status=1
    continue
  fi
  out=$(IDFLOW_TEST_STORE_URL="$url?options=-csearch_path%3D%s" IDFLOW_TEST_PG_URL="$url" IDFLOW_BIN="$bin" \
    "$s" 2>&1)
  rc=$?
  printf '%s\n' "$out" | sed -E "s/^(not ok|ok) ([0-9]+) - /\1 \2 - pg:$name: /"
  # TAP plans ("1..N", one per test group) against the tests reported
  planned=$(printf '%s\n' "$out" | sed -nE 's/^1\.\.([0-9]+)$/\1/p' | awk '{n += $1} END {print n + 0}')
  reported=$(printf '%s\n' "$out" | grep -cE '^(not )?ok [0-9]+')
  if [ "$rc" -ne 0 ]; then
    status=1
    if [ "$reported" -lt "$planned" ]; then
      echo "not ok 1 - pg:$name stopped early (status $rc): $reported of its $planned tests reported"
    elif ! printf '%s\n' "$out" | grep -qE '^not ok [0-9]+'; then
      echo "not ok 1 - pg:$name exited with status $rc without a failed test"
    fi
  fi
done
exit $status
