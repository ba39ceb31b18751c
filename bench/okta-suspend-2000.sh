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

jq -n --argjson n "$N" '{okta: {org: {apiTokenOwner: "admin@bench.example"},
  users: ([{status: "ACTIVE", profile: {login: "admin@bench.example", email: "admin@bench.example",
             firstName: "Bench", lastName: "Admin"}}] + [range($n) | {status: "ACTIVE",
  profile: {login: "user\(.)@bench.example", email: "user\(.)@bench.example", firstName: "Bench", lastName: "User\(.)"}}])}}' \
  >"$WORK/seed.json"
"$BIN" sandbox --listen 127.0.0.1:0 --seed "$WORK/seed.json" --rate-limit "$RATE" --token-share "$SHARE" >"$WORK/sandbox.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 1 100); do
  SB=$(grep -o '"url":"[^"]*"' "$WORK/sandbox.log" | head -1 | cut -d'"' -f4) && [ -n "$SB" ] && break
  sleep 0.1
done
printf '%s' sandbox-okta-token | "$BIN" connect okta bench --url "$SB" --token - --sandbox --db "sqlite:$WORK/db" >/dev/null
TOK=$("$BIN" token create bench --role admin --db "sqlite:$WORK/db")
AUTH="Authorization: Bearer $TOK"
mkdir -p "$WORK/wf"
cat >"$WORK/wf/suspend-all.yaml" <<'EOF'
name: suspend-all
on: manual
steps:
  - id: suspend
    foreach: ${{ .event.data.logins }}
    as: login
    do: okta.suspend_user
    with:
      user: ${{ .login }}
EOF
PORT=$((20000 + RANDOM % 20000))
"$BIN" serve --db "sqlite:$WORK/db" --listen "127.0.0.1:$PORT" --workflows "$WORK/wf" >"$WORK/serve.log" 2>&1 &
PIDS+=($!)
until curl -fs -o /dev/null "http://127.0.0.1:$PORT/readyz"; do sleep 0.1; done

jq -n --argjson n "$N" '{workflow: "suspend-all", data: {logins: [range($n) | "user\(.)@bench.example"]}}' >"$WORK/event.json"
t0=$(date +%s.%N)
run=$(curl -fs -H "$AUTH" -H "Content-Type: application/json" -XPOST "http://127.0.0.1:$PORT/api/v1/events" --data-binary @"$WORK/event.json" | jq -r '.run_ids[0]')
while :; do
  st=$(curl -fs -H "$AUTH" "http://127.0.0.1:$PORT/api/v1/runs/$run" | jq -r .status)
  case "$st" in succeeded|failed) break ;; esac
  sleep 1
done
t1=$(date +%s.%N)

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
