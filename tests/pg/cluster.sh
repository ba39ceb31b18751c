#!/usr/bin/env bash
# tests/pg/cluster.sh — a throwaway PostgreSQL cluster for the tests.
#
#   dir=$(tests/pg/cluster.sh start)   initdb into a new temp dir, start the
#                                      server, print the dir (stdout, one line)
#   tests/pg/cluster.sh url DIR        print its URL:
#                                      postgresql://idflow@127.0.0.1:PORT/idflow
#   tests/pg/cluster.sh stop DIR       stop the server and remove DIR
#
# The server comes from Debian's postgresql package (the newest
# /usr/lib/postgresql/*/bin; PG_BINDIR names another bin dir, PG_LIB_DIR
# another folder of versions). It listens on 127.0.0.1 on
# a free port (never 5432, where Debian's own cluster may run), with its unix
# socket inside DIR, and trusts the superuser "idflow" from loopback; every
# other role must give its password (scram-sha-256), so tests can check what
# a wrong password does. As root (CI) the cluster runs as "nobody" (postgres
# refuses to run as root), the dir chowned to it; as any other user, as that
# user. Start waits until the server accepts connections (pg_ctl -w, then
# pg_isready): no sleeps.
#
# A missing server is an error (exit 1) saying so: these tests are never
# skipped. Messages go to stderr.
set -euo pipefail

PG_LIB_DIR=${PG_LIB_DIR:-/usr/lib/postgresql} # where Debian puts each major version's bin/

die() {
  echo "tests/pg/cluster.sh: $*" >&2
  exit 1
}

find_bindir() {
  if [ -n "${PG_BINDIR:-}" ]; then
    [ -x "$PG_BINDIR/initdb" ] || die "PG_BINDIR=$PG_BINDIR has no initdb"
    echo "$PG_BINDIR"
    return
  fi
  local d v best_v=-1 best_d=""
  for d in "$PG_LIB_DIR"/*/bin; do
    [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ] || continue
    v=${d#"$PG_LIB_DIR"/}
    v=${v%/bin}
    case "$v" in *[!0-9]*) continue ;; esac
    if [ "$v" -gt "$best_v" ]; then best_v=$v; best_d=$d; fi
  done
  [ -n "$best_d" ] ||
    die "PostgreSQL is missing: no initdb under $PG_LIB_DIR/*/bin. Install Debian's postgresql package (bash scripts/setup.sh does)."
  echo "$best_d"
}

# Runs a command as the cluster's owner: nobody when we are root.
as_owner() {
  if [ "$(id -u)" -eq 0 ]; then
    setpriv --reuid=nobody --regid=nogroup --clear-groups -- "$@"
  else
    "$@"
  fi
}

port_free() {
  # Nothing accepts a connection on it (bash's /dev/tcp; no extra tool).
  ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

start() {
  local bindir dir port tries=0
  bindir=$(find_bindir)
  dir=$(mktemp -d "${TMPDIR:-/tmp}/idflow-pg-XXXXXX")
  chmod 700 "$dir"
  [ "$(id -u)" -eq 0 ] && chown nobody:nogroup "$dir"
  if ! as_owner "$bindir/initdb" -D "$dir/data" -U idflow --auth-local=trust --auth-host=scram-sha-256 \
    -E UTF8 --locale=C >"$dir/initdb.log" 2>&1; then
    cat "$dir/initdb.log" >&2
    rm -rf "$dir"
    die "initdb failed (log above)"
  fi
  # The superuser is trusted from loopback; other roles need their password.
  as_owner sh -c "cat > '$dir/data/pg_hba.conf'" <<EOF
local all idflow trust
host  all idflow 127.0.0.1/32 trust
local all all scram-sha-256
host  all all 127.0.0.1/32 scram-sha-256
EOF
  # fsync=off and full_page_writes=off: a crash of this throwaway cluster
  # loses nothing anyone needs, and what these tests check is idflow's use
  # of transactions, not PostgreSQL's own durability (which is PostgreSQL's
  # to test). synchronous_commit stays on (idflow sets it per session).
  as_owner sh -c "cat >> '$dir/data/postgresql.conf'" <<EOF
listen_addresses = '127.0.0.1'
unix_socket_directories = '$dir'
fsync = off
full_page_writes = off
max_connections = 200
shared_buffers = 32MB
log_min_messages = warning
EOF
  while :; do
    tries=$((tries + 1))
    port=$((20000 + RANDOM % 30000))
    port_free "$port" || continue
    if as_owner "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 -o "-p $port" start >/dev/null 2>&1; then
      break
    fi
    # Another process may have taken the port between the check and the
    # bind: try another; anything else is fatal.
    if [ "$tries" -ge 10 ] || ! grep -q "could not bind\|could not create any TCP/IP sockets" "$dir/server.log" 2>/dev/null; then
      cat "$dir/server.log" >&2 2>/dev/null || true
      rm -rf "$dir"
      die "the PostgreSQL server did not start (log above)"
    fi
    : >"$dir/server.log"
  done
  echo "$port" >"$dir/port"
  "$bindir/pg_isready" -q -h 127.0.0.1 -p "$port" -t 30 || die "the server does not accept connections on port $port"
  # The database the tests use, owned by the trusted superuser.
  as_owner "$bindir/psql" -q -X -h "$dir" -p "$port" -U idflow -d postgres -v ON_ERROR_STOP=1 \
    -c "CREATE DATABASE idflow" >/dev/null || die "CREATE DATABASE idflow failed"
  echo "$dir"
}

check_dir() {
  [ -n "${1:-}" ] && [ -f "$1/port" ] && [ -d "$1/data" ] || die "${1:-(none)} is not a cluster dir made by '$0 start'"
}

case "${1:-}" in
start) start ;;
url)
  check_dir "${2:-}"
  echo "postgresql://idflow@127.0.0.1:$(cat "$2/port")/idflow"
  ;;
stop)
  check_dir "${2:-}"
  bindir=$(find_bindir)
  as_owner "$bindir/pg_ctl" -D "$2/data" -m immediate -w stop >/dev/null 2>&1 || true
  rm -rf "$2"
  ;;
*) die "usage: $0 start | url DIR | stop DIR" ;;
esac
