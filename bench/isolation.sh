#!/usr/bin/env bash
# bench/isolation.sh — issue 12's cost (isolated expression evaluation): the
# engine benchmark (BENCH_QUICK=1: durable acknowledgements of the events API
# and of hook deliveries with their p99, one-step and three-step runs/s)
# against two builds, interleaved, medians printed. bench/ab.sh does the work.
#
#   bench/isolation.sh BEFORE_REF [ROUNDS [AFTER_REF]]
AB_BENCHES=engine exec "$(dirname "$0")/ab.sh" "$@"
