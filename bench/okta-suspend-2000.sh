#!/usr/bin/env bash
# bench/okta-suspend-2000.sh — issue 4's pacing target through the whole
# product: one workflow run suspends N users (default 2,000) of a sandbox org
# whose every rate-limit bucket allows RATE requests a minute org-wide
# (default 600), of which the API token may use SHARE % (default 50, Okta's
# default per-token share; the headers show the org-wide figures). idflow
# runs with default settings (no rate_share). Prints the run's duration, the
# achieved pace of suspend calls (POST .../lifecycle/suspend, Okta's
# /api/v1/users bucket) against the TOKEN's budget (RATE x SHARE / 100), the
# 429s the sandbox answered (must be 0), and whether each user was suspended
# exactly once. Takes about N / (RATE x SHARE / 100) minutes; a larger RATE
# scales it down honestly (the figure is always relative to the token's
# budget at that rate).
#   IDFLOW_BIN=./idflow bash bench/okta-suspend-2000.sh [N] [RATE] [SHARE]
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${IDFLOW_BIN:-./idflow}
N=${1:-2000}
RATE=${2:-600}
SHARE=${3:-50}
WORK=$(mktemp -d /tmp/idflow-bench-XXXXXX)
PIDS=()
trap 'for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null; rm -rf "$WORK"' EXIT

. bench/okta-bulk.sh
bulk_seed "$N"
bulk_start --rate-limit "$RATE" --token-share "$SHARE"
bulk_serve 'name: suspend-all
on: manual
steps:
  - id: suspend
    foreach: ${{ .event.data.logins }}
    as: login
    do: okta.suspend_user
    with:
      user: ${{ .login }}'
bulk_run suspend-all "$N"

curl -fs "$SB/_sandbox/calls?path=/api/v1/users" >"$WORK/calls.json"
jq -r --arg t0 "$t0" --arg t1 "$t1" --argjson rate "$RATE" --argjson share "$SHARE" --argjson n "$N" '
  ($rate * $share / 100) as $budget
  | [.calls[] | select(.method == "POST" and (.path | endswith("/lifecycle/suspend")))] as $s
  | ([.calls[] | select(.status == 429)] | length) as $r429
  | (($t1 | tonumber) - ($t0 | tonumber)) as $secs
  | "suspend calls: \($s | length) for \($n) users, 429 answered: \($r429)",
    "run time: \($secs | floor) s; pace: \(($s | length) / $secs * 60 | floor) suspends/min against the token'"'"'s budget of \($budget)/min (\($share)% of the org'"'"'s \($rate)/min): \((($s | length) / $secs * 60 / $budget * 1000 | floor) / 10)%"
  ' "$WORK/calls.json"
echo "run $run: $st"
echo "users SUSPENDED: $(curl -fs "$SB/_sandbox/state" | jq '[.okta.users[] | select(.status == "SUSPENDED")] | length') of $N"
