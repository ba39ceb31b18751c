#!/usr/bin/env bash
# bench/okta-assign-app.sh — bulk app assignment through the whole product:
# one workflow run assigns one app to N users (default 300) of a sandbox org.
# Okta counts app-user calls (GET/POST/DELETE /api/v1/apps/{id}/users...) in
# its /api/v1/apps bucket, 100 a minute on Workforce orgs, of which one API
# token may use SHARE % (default 50, Okta's default; the headers show the
# org-wide figures). Each assignment makes two calls there (read the
# assignment, then POST it). APPS sets that bucket's org-wide limit a minute
# (default 100; a larger value scales the run down honestly: the figure is
# always relative to the token's budget at that limit); every other bucket
# keeps the sandbox's defaults. idflow runs with default settings. Prints the
# run's duration, the pace of app-user calls against the TOKEN's budget in
# that bucket (APPS x SHARE / 100), the 429s answered (must be 0), and how
# many users ended up assigned. Takes about 2N / (APPS x SHARE / 100) minutes.
#   IDFLOW_BIN=./idflow bash bench/okta-assign-app.sh [N] [APPS] [SHARE]
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${IDFLOW_BIN:-./idflow}
N=${1:-300}
APPS=${2:-100}
SHARE=${3:-50}
APP_ID=0oabench000000000001
WORK=$(mktemp -d /tmp/idflow-bench-XXXXXX)
PIDS=()
trap 'for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null; rm -rf "$WORK"' EXIT

. bench/okta-bulk.sh
bulk_seed "$N" "$(jq -n --arg app "$APP_ID" '{apps: [{id: $app, name: "bench_app", label: "Bench App",
  status: "ACTIVE", signOnMode: "BOOKMARK"}]}')"
bulk_start --token-share "$SHARE"
curl -fs -XPOST "$SB/_sandbox/okta/config" -H "Content-Type: application/json" \
  -d "{\"tokenShare\": $SHARE, \"buckets\": {\"/api/v1/apps\": $APPS}}" >/dev/null
bulk_serve "name: assign-all
on: manual
steps:
  - id: assign
    foreach: \${{ .event.data.logins }}
    as: login
    do: okta.assign_app
    with:
      user: \${{ .login }}
      app: $APP_ID"
bulk_run assign-all "$N"

curl -fs "$SB/_sandbox/calls" >"$WORK/calls.json"
jq -r --arg t0 "$t0" --arg t1 "$t1" --argjson apps "$APPS" --argjson share "$SHARE" --argjson n "$N" '
  ($apps * $share / 100) as $budget
  | [.calls[] | select(.path | test("^/api/v1/apps/[^/]+/users"))] as $a
  | [$a[] | select(.method == "POST")] as $posts
  | ([.calls[] | select(.status == 429)] | length) as $r429
  | (($t1 | tonumber) - ($t0 | tonumber)) as $secs
  | "app-user calls: \($a | length) (\($posts | length) assignments) for \($n) users, 429 answered: \($r429)",
    "run time: \($secs | floor) s; pace: \(($a | length) / $secs * 60 | floor) /api/v1/apps calls/min against the token'"'"'s budget of \($budget)/min (\($share)% of the org'"'"'s \($apps)/min): \((($a | length) / $secs * 60 / $budget * 1000 | floor) / 10)%"
  ' "$WORK/calls.json"
echo "run $run: $st"
echo "users assigned: $(jq '[.calls[] | select(.method == "POST" and (.path | test("^/api/v1/apps/[^/]+/users$")) and .status == 200)] | length' "$WORK/calls.json") of $N (each POST answered 200 once)"
