#!/usr/bin/env bash
# tests/e2e/run.sh — browser tests of the web UI (docs/ui.md): headless
# Chromium, driven by playwright-core, against a real `idflow serve` and
# `idflow sandbox` on loopback.
#
#   1. npm ci (the pinned playwright-core, and axe-core for the accessibility
#      checks) into ./node_modules if missing or older than package-lock.json
#   2. a fresh temporary directory: the database, the master key
#   3. `idflow sandbox` on 127.0.0.1 (a free port); `idflow connect okta acme`
#      to it (the connection tests/e2e/workflows/e2e-lookup.yaml uses)
#   4. `idflow serve` on 127.0.0.1:0 with tests/e2e/workflows, no API token
#      (a fresh loopback install: the API is open until the first token)
#   5. ui.test.mjs: each test as one TAP line
#   6. both servers stopped with SIGTERM: each must exit 0 with no sanitizer
#      report in its log (one more TAP line)
#
# Output is TAP, so tests/run.sh sums it with the other suites; the last line
# is "e2e: N passed, M failed". Exit status 0 when every line is ok. Every
# process started here is stopped on exit, failures included.
# Environment: IDFLOW_BIN (default build/idflow), CHROMIUM (default
# /usr/bin/chromium), E2E_OUT (default <dir of IDFLOW_BIN>/e2e: logs, and a
# screenshot of each failed test), E2E_SHOTS=1 (also screenshots of the main
# pages), E2E_HEADED=1 (show the browser).
set -u

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
bin=${IDFLOW_BIN:-$root/build/idflow}
chromium=${CHROMIUM:-/usr/bin/chromium}
out=${E2E_OUT:-$(dirname "$bin")/e2e}
start_timeout=${E2E_START_TIMEOUT:-60}
okta_token=e2e-sandbox-okta-token-0123456789

pids=()
tmp=
cleanup() {
  local p
  for p in "${pids[@]}"; do
    kill "$p" 2>/dev/null
  done
  for p in "${pids[@]}"; do
    wait "$p" 2>/dev/null
  done
  [ -n "$tmp" ] && rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

fail_all() {
  echo "1..1"
  echo "not ok 1 - e2e setup failed: $1"
  echo "e2e: 0 passed, 1 failed"
  exit 1
}

# Waits until FILE has a line matching REGEX; prints the match.
wait_for() {
  local file=$1 regex=$2 pid=$3 deadline=$((SECONDS + start_timeout)) m
  while [ $SECONDS -lt $deadline ]; do
    m=$(grep -oE "$regex" "$file" 2>/dev/null | head -n 1)
    if [ -n "$m" ]; then
      echo "$m"
      return 0
    fi
    kill -0 "$pid" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}

# Stops pid with SIGTERM; 0 when it exited 0 and its log has no sanitizer report.
stop_clean() {
  local pid=$1 log=$2 name=$3 rc
  kill "$pid" 2>/dev/null
  wait "$pid"
  rc=$?
  if [ $rc -ne 0 ] || grep -qE 'Sanitizer|runtime error' "$log"; then
    echo "# $name exited with status $rc or reported an error (see $log):"
    grep -E -A 12 'ERROR|Sanitizer|runtime error' "$log" | head -n 40 | sed 's/^/#   /'
    return 1
  fi
  return 0
}

t0=$SECONDS
mkdir -p "$out" || fail_all "cannot create $out"
rm -f "$out"/*.log "$out"/*.png

command -v node >/dev/null && command -v npm >/dev/null || fail_all "node and npm are needed (scripts/setup.sh installs them)"
node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 18 ? 0 : 1)' ||
  fail_all "playwright-core needs Node.js >= 18, this is $(node --version)"
[ -x "$bin" ] || fail_all "no idflow binary at $bin"
[ -x "$chromium" ] || fail_all "no Chromium at $chromium (scripts/setup.sh installs the package chromium)"

# 1. the pinned packages
if [ ! -f "$here/node_modules/.package-lock.json" ] || [ "$here/package-lock.json" -nt "$here/node_modules/.package-lock.json" ]; then
  (cd "$here" && npm ci --no-audit --no-fund --loglevel=error) >"$out/npm.log" 2>&1 ||
    { sed 's/^/# /' "$out/npm.log" | tail -n 20; fail_all "npm ci failed (see $out/npm.log)"; }
fi
[ -f "$here/node_modules/playwright-core/package.json" ] || fail_all "playwright-core is not installed in $here/node_modules"
[ -f "$here/node_modules/axe-core/axe.min.js" ] || fail_all "axe-core is not installed in $here/node_modules"

# 2. a fresh store
tmp=$(mktemp -d /tmp/idflow-e2e-XXXXXX) || fail_all "mktemp failed"
db="sqlite:$tmp/idflow.db"

# 3. the sandbox, and the connection the workflows use
"$bin" sandbox --listen 127.0.0.1:0 --token "$okta_token" >"$out/sandbox.log" 2>&1 &
sandbox_pid=$!
pids+=($sandbox_pid)
sandbox=$(wait_for "$out/sandbox.log" '"url":"http://127\.0\.0\.1:[0-9]+' $sandbox_pid) ||
  fail_all "the sandbox did not start (see $out/sandbox.log)"
sandbox=${sandbox#\"url\":\"}
E2E_OKTA_TOKEN=$okta_token "$bin" connect okta acme --url "$sandbox" --token-env E2E_OKTA_TOKEN --sandbox --db "$db" \
  >"$out/connect.log" 2>&1 || { sed 's/^/# /' "$out/connect.log"; fail_all "idflow connect failed"; }

# 4. the server, open (no token yet) on loopback
"$bin" serve --db "$db" --listen 127.0.0.1:0 --workflows "$here/workflows" >"$out/serve.log" 2>&1 &
serve_pid=$!
pids+=($serve_pid)
url=$(wait_for "$out/serve.log" 'listening on http://127\.0\.0\.1:[0-9]+' $serve_pid) ||
  fail_all "idflow serve did not start (see $out/serve.log)"
url=${url#listening on }
deadline=$((SECONDS + start_timeout))
until curl -fsS -o /dev/null "$url/readyz" 2>/dev/null; do
  [ $SECONDS -lt $deadline ] && kill -0 $serve_pid 2>/dev/null || fail_all "idflow serve did not become ready (see $out/serve.log)"
  sleep 0.1
done
echo "# sandbox $sandbox, idflow $url; ready in $((SECONDS - t0)) s"

# 5. the browser tests (each prints its own TAP line; the plan counts step 6)
IDFLOW_URL=$url SANDBOX_URL=$sandbox OKTA_TOKEN=$okta_token IDFLOW_BIN=$bin IDFLOW_DB=$db CHROMIUM=$chromium \
  E2E_OUT=$out E2E_EXTRA_TESTS=1 timeout "${E2E_TIMEOUT:-600}" node "$here/ui.test.mjs" 2>"$out/node.log" |
  tee "$out/ui.tap"
rc=${PIPESTATUS[0]}
passed=$(grep -cE '^ok [0-9]+' "$out/ui.tap")
failed=$(grep -cE '^not ok [0-9]+' "$out/ui.tap")
n=$((passed + failed))
if [ $rc -ne 0 ] && [ $failed -eq 0 ]; then
  n=$((n + 1))
  failed=$((failed + 1))
  echo "not ok $n - the browser tests ended early: node exited with status $rc (see $out/node.log)"
fi
if [ $rc -ne 0 ] && [ -s "$out/node.log" ]; then
  tail -n 30 "$out/node.log" | sed 's/^/# /'
fi

# 6. both servers stop cleanly
clean=0
stop_clean $serve_pid "$out/serve.log" "idflow serve" || clean=1
stop_clean $sandbox_pid "$out/sandbox.log" "the sandbox" || clean=1
pids=()
if [ $clean -eq 0 ]; then
  echo "ok $((n + 1)) - idflow serve and the sandbox stop cleanly on SIGTERM"
  passed=$((passed + 1))
else
  echo "not ok $((n + 1)) - idflow serve and the sandbox stop cleanly on SIGTERM"
  failed=$((failed + 1))
fi
echo "# e2e took $((SECONDS - t0)) s; logs in $out"
echo "e2e: $passed passed, $failed failed"
[ $failed -eq 0 ]
