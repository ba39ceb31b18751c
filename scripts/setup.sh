#!/usr/bin/env bash
# Installs the Debian packages idflow needs to build, test and run its demo;
# with --bench, those bench/peers.sh needs (make peers) besides the build's.
# Idempotent: packages already installed are left alone, and apt-get runs only
# when something is missing. Called by `make` (through the .deps stamp) and by
# .ci/run; safe to run by hand. Needs root (or sudo) on Debian 12.
set -euo pipefail

BUILD_PKGS=(
  build-essential pkg-config
  libmicrohttpd-dev libcurl4-openssl-dev libjansson-dev libjq-dev libonig-dev
  libyaml-dev libsqlite3-dev libsodium-dev libpq-dev libcmocka-dev libssl-dev zlib1g-dev
)
# chromium: tests/e2e/run.sh drives Debian's Chromium with playwright-core
# (pinned in tests/e2e/package-lock.json, installed by that script with npm ci).
# postgresql: tests/pg/run.sh starts a throwaway cluster with its initdb and
# pg_ctl (Debian's package also starts a cluster of its own on port 5432,
# which the tests leave alone).
TEST_PKGS=(curl ca-certificates sqlite3 jq procps chromium postgresql)
# tests/conformance/run.sh runs Prism (@stoplight/prism-cli, pinned, from npm):
# Node.js >= 18.20 and npm (Debian 12 has 18.20.4). Asked for only when node or
# npm is missing: a NodeSource nodejs bundles npm and conflicts with Debian's.
# bench/peers.sh (make peers, not make test): wrk drives the load; Node-RED,
# the peer it measures, comes from npm (bench/peers/package-lock.json).
BENCH_PKGS=(wrk curl ca-certificates jq procps)
CONFORMANCE_PKGS=()
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  CONFORMANCE_PKGS=(nodejs npm)
fi

want=("${BUILD_PKGS[@]}")
case "${1:-}" in
  --build-only) ;;
  --bench) want+=("${BENCH_PKGS[@]}" "${CONFORMANCE_PKGS[@]}") ;;
  *) want+=("${TEST_PKGS[@]}" "${CONFORMANCE_PKGS[@]}") ;;
esac

missing=()
for p in "${want[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

echo "setup: installing ${missing[*]}" >&2
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "setup: done" >&2
