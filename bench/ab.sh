#!/usr/bin/env bash
# bench/ab.sh — two builds, the same benchmarks, interleaved on the same
# machine in the same run, medians printed side by side: how a change is
# checked for a regression beyond the run-to-run spread.
#
#   bench/ab.sh BEFORE_REF [ROUNDS [AFTER_REF]]
#
# builds BEFORE_REF (a commit) in a temporary worktree, with its idflow and
# its bench programs (and AFTER_REF likewise when given, else this tree),
# then runs each benchmark of AB_BENCHES (default "engine ingest foreach
# okta") ROUNDS times (default 3) for each build, alternating before and
# after, each build's bench program against its own idflow. The sizes are
# smaller than `make bench`'s so a round takes about a minute:
# BENCH_QUICK=1 BENCH_RUNS=5000 (engine: acknowledgements, one- and
# three-step runs/s), BENCH_DELIVERIES=3000 (ingest), BENCH_FOREACH=1000,5000
# (foreach), the default okta (CPU per action, share of a budget); set any of
# them to override. For every figure line (its label: the text before the
# last ':'; or before the first number when there is no ':') it prints the
# median of each number for both builds, and the change of the first.
# AB_RAW=FILE keeps every round's lines ("before|..." / "after|...") there.
set -euo pipefail
cd "$(dirname "$0")/.."
ref=${1:?usage: bench/ab.sh BEFORE_REF [ROUNDS [AFTER_REF]]}
rounds=${2:-3}
after_ref=${3:-}
benches=${AB_BENCHES:-engine ingest foreach okta}
export BENCH_QUICK=${BENCH_QUICK:-1} BENCH_RUNS=${BENCH_RUNS:-5000} BENCH_DELIVERIES=${BENCH_DELIVERIES:-3000} \
    BENCH_FOREACH=${BENCH_FOREACH:-1000,5000}
targets() { echo build/idflow; for b in $benches; do echo "build/bench/$b"; done; }
tmp=$(mktemp -d)
trap 'git worktree remove --force "$tmp/before" >/dev/null 2>&1 || true
      git worktree remove --force "$tmp/after" >/dev/null 2>&1 || true; rm -rf "$tmp"' EXIT
git worktree add -q --detach "$tmp/before" "$ref"
make -s -C "$tmp/before" -j2 $(targets) >/dev/null
before=$tmp/before
after=$PWD
if [ -n "$after_ref" ]; then
    git worktree add -q --detach "$tmp/after" "$after_ref"
    after=$tmp/after
fi
make -s -C "$after" -j2 $(targets) >/dev/null
for r in $(seq "$rounds"); do
    for b in $benches; do
        for which in before after; do
            dir=$before; [ "$which" = after ] && dir=$after
            IDFLOW_BIN=$dir/build/idflow "$dir/build/bench/$b" 2>/dev/null | sed "s/^/$which|/" >>"$tmp/out" || true
        done
    done
done
[ -n "${AB_RAW:-}" ] && cp "$tmp/out" "$AB_RAW"
echo "before: $(git rev-parse --short "$ref"), after: $( [ -n "$after_ref" ] && git rev-parse --short "$after_ref" || echo "this tree ($(git rev-parse --short HEAD)$(git diff --quiet HEAD || echo +changes))"), $rounds rounds each, $(nproc) CPUs"
python3 - "$tmp/out" <<'PY'
import re, statistics, sys
num = r"[-+]?\d+(?:\.\d+)?"
fig = {}
for line in open(sys.argv[1]):
    which, text = line.rstrip("\n").split("|", 1)
    if ":" in text:
        label, rest = text.rsplit(":", 1)
    else:
        m = re.search(num, text)
        if not m:
            continue
        label, rest = text[:m.start()], text[m.start():]
    nums = [float(x) for x in re.findall(num, rest)]
    if nums:
        fig.setdefault(" ".join(label.split()), {}).setdefault(which, []).append(nums)
for label, by in fig.items():
    b, a = by.get("before", []), by.get("after", [])
    if not b or not a:
        continue
    k = min(min(map(len, b)), min(map(len, a)))
    mb = [statistics.median(v[i] for v in b) for i in range(k)]
    ma = [statistics.median(v[i] for v in a) for i in range(k)]
    change = (ma[0] / mb[0] - 1) * 100 if mb[0] else float("nan")
    fmt = lambda v: " ".join(f"{x:g}" for x in v)
    print(f"{label}:\n    before [{fmt(mb)}]\n    after  [{fmt(ma)}]   first figure {change:+.1f}%  ({len(b)}/{len(a)} rounds)")
PY
