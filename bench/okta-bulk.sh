# bench/okta-bulk.sh — what the bulk Okta benchmarks share (sourced, not run):
# a sandbox Okta org seeded with an admin and N users, an idflow connection to
# it with default settings, `idflow serve` with one manual workflow that runs a
# step over every user, and one run of it timed from the API call to its end.
# The caller sets BIN and WORK, and cleans up PIDS on exit.
#   bulk_seed N [EXTRA_OKTA_JSON]   writes $WORK/seed.json (EXTRA merged into .okta)
#   bulk_start SANDBOX_ARGS...      starts the sandbox (sets SB), connects, makes a token (AUTH)
#   bulk_serve WORKFLOW_YAML        starts serve with that workflow (sets PORT)
#   bulk_run WORKFLOW N             runs it over user0..user(N-1) (sets run, st, t0, t1)

bulk_seed() {
  local extra=${2:-}
  [ -n "$extra" ] || extra='{}'
  jq -n --argjson n "$1" --argjson extra "$extra" '{okta: ({org: {apiTokenOwner: "admin@bench.example"},
    users: ([{status: "ACTIVE", profile: {login: "admin@bench.example", email: "admin@bench.example",
               firstName: "Bench", lastName: "Admin"}}] + [range($n) | {status: "ACTIVE",
    profile: {login: "user\(.)@bench.example", email: "user\(.)@bench.example", firstName: "Bench",
              lastName: "User\(.)"}}])} + $extra)}' >"$WORK/seed.json"
}

bulk_start() {
  "$BIN" sandbox --listen 127.0.0.1:0 --seed "$WORK/seed.json" "$@" >"$WORK/sandbox.log" 2>&1 &
  PIDS+=($!)
  for _ in $(seq 1 100); do
    SB=$(grep -o '"url":"[^"]*"' "$WORK/sandbox.log" | head -1 | cut -d'"' -f4) && [ -n "$SB" ] && break
    sleep 0.1
  done
  printf '%s' sandbox-okta-token | "$BIN" connect okta bench --url "$SB" --token - --sandbox --db "sqlite:$WORK/db" >/dev/null
  TOK=$("$BIN" token create bench --role admin --db "sqlite:$WORK/db")
  AUTH="Authorization: Bearer $TOK"
}

bulk_serve() {
  mkdir -p "$WORK/wf"
  printf '%s\n' "$1" >"$WORK/wf/bench.yaml"
  PORT=$((20000 + RANDOM % 20000))
  "$BIN" serve --db "sqlite:$WORK/db" --listen "127.0.0.1:$PORT" --workflows "$WORK/wf" >"$WORK/serve.log" 2>&1 &
  PIDS+=($!)
  until curl -fs -o /dev/null "http://127.0.0.1:$PORT/readyz"; do sleep 0.1; done
}

bulk_run() {
  jq -n --arg wf "$1" --argjson n "$2" '{workflow: $wf, data: {logins: [range($n) | "user\(.)@bench.example"]}}' \
    >"$WORK/event.json"
  t0=$(date +%s.%N)
  run=$(curl -fs -H "$AUTH" -H "Content-Type: application/json" -XPOST "http://127.0.0.1:$PORT/api/v1/events" \
    --data-binary @"$WORK/event.json" | jq -r '.run_ids[0]')
  while :; do
    st=$(curl -fs -H "$AUTH" "http://127.0.0.1:$PORT/api/v1/runs/$run" | jq -r .status)
    case "$st" in succeeded|failed) break ;; esac
    sleep 1
  done
  t1=$(date +%s.%N)
}
