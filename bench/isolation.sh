#!/usr/bin/env bash
# bench/isolation.sh — issue 12's cost: the same benchmark against two builds,
# interleaved on the same machine in the same run, medians printed.
#
#   bench/isolation.sh BEFORE_REF [ROUNDS [AFTER_REF]]
#
# builds BEFORE_REF (a commit, e.g. the one before isolated evaluation) in a
# temporary worktree (and AFTER_REF, when given, instead of this tree), then
# runs build/bench/engine with BENCH_QUICK=1 (durable
# acknowledgements of the events API and of hook deliveries with their p99,
# one-step and three-step runs/s) ROUNDS times (default 3) for each binary,
# alternating, and prints the median of each figure for both and the change.
# BENCH_RUNS (default 5000) sets the size of each measurement.
set -euo pipefail
cd "$(dirname "$0")/.."
ref=${1:?usage: bench/isolation.sh BEFORE_REF [ROUNDS [AFTER_REF]]}
rounds=${2:-3}
after_ref=${3:-}
export BENCH_RUNS=${BENCH_RUNS:-5000} BENCH_QUICK=1
make -s -j2 build/idflow build/bench/engine >/dev/null
tmp=$(mktemp -d)
trap 'git worktree remove --force "$tmp/before" >/dev/null 2>&1 || true
      git worktree remove --force "$tmp/after" >/dev/null 2>&1 || true; rm -rf "$tmp"' EXIT
git worktree add -q --detach "$tmp/before" "$ref"
make -s -C "$tmp/before" -j2 build/idflow >/dev/null
before=$tmp/before/build/idflow
after=$PWD/build/idflow
if [ -n "$after_ref" ]; then
    git worktree add -q --detach "$tmp/after" "$after_ref"
    make -s -C "$tmp/after" -j2 build/idflow >/dev/null
    after=$tmp/after/build/idflow
fi
for r in $(seq "$rounds"); do
    for which in before after; do
        bin=$before; [ "$which" = after ] && bin=$after
        IDFLOW_BIN=$bin build/bench/engine 2>/dev/null | sed "s/^/$which|/" >>"$tmp/out"
    done
done
python3 - "$tmp/out" <<'PY'
import re, statistics, sys
fig = {}
for line in open(sys.argv[1]):
    which, text = line.rstrip("\n").split("|", 1)
    label, _, rest = text.partition(":")
    nums = [float(x) for x in re.findall(r"[-+]?\d+(?:\.\d+)?", rest)]
    if not nums:
        continue
    fig.setdefault(label, {}).setdefault(which, []).append(nums)
for label, by in fig.items():
    b, a = by.get("before", []), by.get("after", [])
    if not b or not a:
        continue
    mb = [statistics.median(v[i] for v in b) for i in range(len(b[0]))]
    ma = [statistics.median(v[i] for v in a) for i in range(len(a[0]))]
    change = (ma[0] / mb[0] - 1) * 100 if mb[0] else float("nan")
    extra = f"   (p99 {mb[-1]:.2f} ms -> {ma[-1]:.2f} ms)" if "acks" in label and len(mb) > 1 else ""
    print(f"{label}: before {mb[0]:.0f}, after {ma[0]:.0f} ({change:+.1f}%){extra}   [{len(b)} rounds each]")
PY
