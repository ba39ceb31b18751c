#!/usr/bin/env bash
# make demo: idflow end to end on this machine, with nothing else installed.
#
# Starts the sandbox (an emulated Okta org and HappyFox account) and
# `idflow serve` on loopback with a fresh SQLite database, connects the
# sandbox org (token sealed at rest), loads the shipped workflows, plays each
# scenario through the API, and prints a report: scenario, each step with its
# outcome and `changed`, the user's final state in Okta, time taken.
# Then it keeps serving until Ctrl-C; DEMO_ONCE=1 (or no terminal) exits
# after the report, with status 0 only if every scenario ended as expected.
#
# Scenarios 1-5 start workflows through the API; 6-7 are started by Okta
# events delivered to idflow's event hook; 8-11 by HappyFox tickets, through
# the Smart Rule webhook (the six use cases of DESIGN.md §9 are 8, 6, 9, 10,
# 7 and 11).
set -euo pipefail

cd "$(dirname "$0")/.."
BIN=${IDFLOW_BIN:-./idflow}
WORK=$(mktemp -d /tmp/idflow-demo-XXXXXX)
DB="sqlite:$WORK/idflow.db"
TOKEN=sandbox-okta-token
PIDS=()

cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
  local p
  for p in $(seq "$1" $(($1 + 200))); do
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p"; return 0; fi
  done
  echo "demo: no free port near $1" >&2
  return 1
}

wait_ok() { # url, what
  for _ in $(seq 1 200); do
    if curl -fs -o /dev/null "$1"; then return 0; fi
    sleep 0.05
  done
  echo "demo: $2 did not start; its log:" >&2
  cat "$WORK"/*.log >&2
  exit 1
}

SP=$(free_port 18081)
"$BIN" sandbox --listen "127.0.0.1:$SP" --token "$TOKEN" >"$WORK/sandbox.log" 2>&1 &
PIDS+=($!)
SANDBOX="http://127.0.0.1:$SP"
wait_ok "$SANDBOX/_sandbox/state" "the sandbox"

printf '%s' "$TOKEN" | "$BIN" connect okta acme --url "$SANDBOX" --token - --sandbox --db "$DB" \
  >"$WORK/connect.out" 2>&1 || { cat "$WORK/connect.out" >&2; exit 1; }
HF_HOOK_SECRET=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
HF_KEY=sandbox-hf-key HF_CODE=sandbox-hf-code HF_HOOK=$HF_HOOK_SECRET "$BIN" connect happyfox helpdesk \
  --url "$SANDBOX" --api-key-env HF_KEY --auth-code-env HF_CODE --hook-secret-env HF_HOOK --staff "IT On-call" \
  --sandbox --db "$DB" >>"$WORK/connect.out" 2>&1 || { cat "$WORK/connect.out" >&2; exit 1; }

AP=$(free_port $((SP + 1)))
"$BIN" serve --db "$DB" --listen "127.0.0.1:$AP" --workflows examples/workflows >"$WORK/serve.log" 2>&1 &
PIDS+=($!)
API="http://127.0.0.1:$AP"
wait_ok "$API/readyz" "idflow serve"

# Okta delivers its events to idflow: register the event hook (secret generated, sealed, verified)
"$BIN" connect okta acme --register-hook "$API/hooks/okta/acme" --db "$DB" >>"$WORK/connect.out" 2>&1 ||
  { cat "$WORK/connect.out" >&2; exit 1; }

# HappyFox calls idflow from a Smart Rule webhook (the sandbox stands in for it)
curl -fs -XPOST "$SANDBOX/_sandbox/happyfox/webhook" -H 'Content-Type: application/json' \
  -d "{\"url\":\"$API/hooks/happyfox/helpdesk\",\"header_name\":\"X-Idflow-Secret\",\"header_value\":\"$HF_HOOK_SECRET\"}" \
  >/dev/null

okta() { curl -fs -H "Authorization: SSWS $TOKEN" "$SANDBOX/api/v1/$1"; }
user_state() { # login -> "STATUS, N groups, M apps"
  local u id
  u=$(okta "users/${1/@/%40}")
  id=$(jq -r .id <<<"$u")
  printf '%s, %s Okta groups, %s apps' "$(jq -r .status <<<"$u")" \
    "$(okta "users/$id/groups" | jq '[.[] | select(.type == "OKTA_GROUP")] | length')" \
    "$(okta "users/$id/appLinks" | jq length)"
}

start() { # workflow, login -> run id
  curl -fs -XPOST "$API/api/v1/events" -H 'Content-Type: application/json' \
    -d "{\"workflow\":\"$1\",\"data\":{\"login\":\"$2\"}}" | jq -r '.run_ids[0]'
}

wait_run() { # run id -> final status
  local st
  for _ in $(seq 1 600); do
    st=$(curl -fs "$API/api/v1/runs/$1" | jq -r .status)
    case "$st" in succeeded|failed|cancelled) echo "$st"; return 0 ;; esac
    sleep 0.05
  done
  echo "timed-out"
}

failures=0
report() { # title, workflow, login, expected final status, expected user status
  local t0 t1 run st before after
  before=$(user_state "$3")
  t0=$(date +%s%N)
  run=$(start "$2" "$3")
  st=$(wait_run "$run")
  t1=$(date +%s%N)
  after=$(user_state "$3")
  printf '\n%s\n  workflow %s, run %s: %s in %d ms\n' "$1" "$2" "$run" "$st" $(((t1 - t0) / 1000000))
  curl -fs "$API/api/v1/runs/$run" | jq -r '.steps[] | "    \(.step_id)\(if .item >= 0 then "[\(.item)]" else "" end): \(.status)" +
      (if .output.changed != null then ", changed: \(.output.changed)" else "" end) +
      (if .error then ", error: \(.error.message)" else "" end)'
  printf '  %s: before %s; after %s\n' "$3" "$before" "$after"
  if [ "$st" != "$4" ] || [[ "$after" != "$5"* ]]; then
    printf '  UNEXPECTED: wanted run %s and user %s\n' "$4" "$5"
    failures=$((failures + 1))
  fi
}

echo "idflow demo: sandbox at $SANDBOX, idflow at $API"
report "1. Lock-out: the help desk unlocks an account" unlock-user kevin.murphy@acme.example succeeded ACTIVE
report "   ... and a second click changes nothing (changed: false)" unlock-user kevin.murphy@acme.example succeeded ACTIVE
report "2. Security incident: suspend an account" security-suspend ethan.brooks@acme.example succeeded SUSPENDED
report "3. MFA reset after an identity check" mfa-reset maria.gonzalez@acme.example succeeded ACTIVE
report "4. Offboarding: groups, apps, then deactivation" offboard-user lucas.martin@acme.example succeeded \
  "DEPROVISIONED, 0 Okta groups, 0 apps"
report "5. A refused transition names both states: suspend the offboarded user" \
  security-suspend lucas.martin@acme.example failed DEPROVISIONED

# Event-driven scenarios: something happens in Okta, the event hook delivers it, a workflow runs.
runs_of() { curl -fs "$API/api/v1/runs?workflow=$1&limit=1000" | jq '.runs | length'; }
last_run_of() { curl -fs "$API/api/v1/runs?workflow=$1&limit=1" | jq -r '.runs[0].id'; }
tickets() { curl -fs "$SANDBOX/_sandbox/state" | jq -r --arg s "$1" \
  '[.happyfox.tickets[] | select(.subject | startswith($s))] | length'; }

event_report() { # title, workflow, sandbox simulation path, its JSON body, expect a run (1/0), ticket subject
  local before t0 t1 run st n
  before=$(runs_of "$2")
  t0=$(date +%s%N)
  curl -fs -XPOST "$SANDBOX$3" -H 'Content-Type: application/json' -d "$4" >/dev/null
  printf '\n%s\n' "$1"
  if [ "$5" = 0 ]; then
    sleep 1.5
    n=$(runs_of "$2")
    printf '  workflow %s: %s new run(s) (expected none)\n' "$2" $((n - before))
    [ "$n" = "$before" ] || failures=$((failures + 1))
    return
  fi
  for _ in $(seq 1 200); do
    [ "$(runs_of "$2")" -gt "$before" ] && break
    sleep 0.05
  done
  run=$(last_run_of "$2")
  st=$(wait_run "$run")
  t1=$(date +%s%N)
  printf '  workflow %s, run %s (started by the Okta event hook): %s in %d ms\n' "$2" "$run" "$st" \
    $(((t1 - t0) / 1000000))
  curl -fs "$API/api/v1/runs/$run" | jq -r '.steps[] | "    \(.step_id): \(.status)" +
      (if .output.changed != null then ", changed: \(.output.changed)" else "" end) +
      (if .output.display_id != null then ", ticket \(.output.display_id) (\(.output.status.name // .output.status))" else "" end) +
      (if .error then ", error: \(.error.message)" else "" end)'
  n=$(tickets "$6")
  printf '  HappyFox: %s ticket(s) "%s..."\n' "$n" "$6"
  if [ "$st" != succeeded ] || [ "$n" != 1 ]; then
    printf '  UNEXPECTED: wanted a succeeded run and one ticket\n'
    failures=$((failures + 1))
  fi
}

event_report "6. Okta locks an account after failed sign-ins: a ticket for the on-call agent" lockout-to-ticket \
  "/_sandbox/okta/users/sofia.rossi%40acme.example/fail_signin" '{"count": 10}' 1 "Okta account locked: sofia.rossi"
event_report "7. An admin moves someone to another department: an access-review ticket" profile-change-review \
  "/_sandbox/okta/users/hannah.kim%40acme.example/profile" '{"profile": {"department": "Sales"}}' 1 \
  "Access review after a profile change: hannah.kim"
event_report "   ... a change of phone number starts nothing" profile-change-review \
  "/_sandbox/okta/users/noah.schmidt%40acme.example/profile" '{"profile": {"mobilePhone": "+1 555 0100"}}' 0 ""

# Ticket-driven scenarios: a ticket is opened or resolved in HappyFox, the Smart Rule webhook
# tells idflow, a workflow runs.
hf() { curl -fs -u sandbox-hf-key:sandbox-hf-code -H 'Content-Type: application/json' "$SANDBOX/api/1.1/json$1" -d "$2"; }
new_ticket() { # category, subject, extra JSON members -> ticket number
  hf /tickets/ "{\"category\": $1, \"subject\": \"$2\", \"text\": \"Please handle.\", \"name\": \"HR Team\",
    \"email\": \"hr@acme.example\"${3:+, $3}}" | jq -r .id
}
resolve() { hf "/ticket/$1/staff_update/" '{"staff": 2, "status": 4, "text": "Done on our side."}' >/dev/null; }

ticket_report() { # title, workflow, login, expected user state prefix; the ticket action already happened
  local before=$1 run st
  shift
  for _ in $(seq 1 200); do
    [ "$(runs_of "$2")" -gt "$before" ] && break
    sleep 0.05
  done
  run=$(last_run_of "$2")
  st=$(wait_run "$run")
  printf '\n%s\n  workflow %s, run %s (started by the HappyFox webhook): %s\n' "$1" "$2" "$run" "$st"
  curl -fs "$API/api/v1/runs/$run" | jq -r '.steps[] | "    \(.step_id)\(if .item >= 0 then "[\(.item)]" else "" end): \(.status)" +
      (if .output.changed != null then ", changed: \(.output.changed)" else "" end) +
      (if .error then ", error: \(.error.message)" else "" end)'
  printf '  %s: %s\n' "$3" "$(user_state "$3")"
  if [ "$st" != succeeded ] || [[ "$(user_state "$3")" != "$4"* ]]; then
    printf '  UNEXPECTED: wanted a succeeded run and user %s\n' "$4"
    failures=$((failures + 1))
  fi
}

b=$(runs_of onboarding-from-ticket)
new_ticket 2 "New starter: Lin Chen" '"t-cf-11": "Lin", "t-cf-12": "Chen", "t-cf-13": "lin.chen@acme.example",
  "t-cf-14": 101, "t-cf-15": [201, 202, 210], "t-cf-16": [301, 303, 305]' >/dev/null
ticket_report "$b" "8. Onboarding ticket: create the user, groups, apps, reply and resolve" onboarding-from-ticket \
  lin.chen@acme.example "PROVISIONED, 3 Okta groups, 5 apps"

b=$(runs_of offboarding-on-resolve)
t=$(new_ticket 3 "Leaver: James Okafor" '"t-cf-18": "james.okafor@acme.example"')
resolve "$t"
ticket_report "$b" "9. Offboarding ticket resolved: groups, apps, deactivation, private note" offboarding-on-resolve \
  james.okafor@acme.example "DEPROVISIONED, 0 Okta groups, 0 apps"

b=$(runs_of mfa-reset-on-resolve)
t=$(new_ticket 4 "Lost my phone" '"t-cf-18": "priya.raman@acme.example"')
resolve "$t"
ticket_report "$b" "10. MFA Reset ticket resolved: factors reset" mfa-reset-on-resolve priya.raman@acme.example ACTIVE

b=$(runs_of security-incident)
t=$(new_ticket 5 "Phishing: credentials entered" '"t-cf-18": "omar.haddad@acme.example"')
ticket_report "$b" "11. Security Incident ticket: suspend the account" security-incident omar.haddad@acme.example SUSPENDED
b=$(runs_of security-incident-resolved)
resolve "$t"
ticket_report "$b" "    ... and the ticket resolved: lift the suspension" security-incident-resolved \
  omar.haddad@acme.example ACTIVE

echo
if [ "$failures" -eq 0 ]; then
  echo "demo: every scenario ended as expected"
else
  echo "demo: $failures scenario(s) did not end as expected"
fi

if [ "${DEMO_ONCE:-0}" = 1 ] || [ ! -t 0 ]; then
  [ "$failures" -eq 0 ]
  exit
fi
echo "run history: $BIN runs --db $DB    one run: $BIN show RUN --db $DB"
echo "idflow keeps serving at $API (API: $API/api/v1/runs, metrics: $API/metrics); Ctrl-C stops it."
wait
