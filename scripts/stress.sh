#!/usr/bin/env bash
# Runs one test N times in a row and stops at the first failure: the check that an end-to-end
# test is not flaky before the suite relies on it (a test that fails one run in four fails CI).
#   scripts/stress.sh N CRATE TEST_TARGET TEST_NAME
#   scripts/stress.sh 50 uadpbench-probes probes classic_tracepoint_fallback
# Needs root like the tests themselves. Prints the pass count and the log of a failing run.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ $# -ne 4 ]; then
  sed -n '2,6p' "$0" >&2
  exit 2
fi
n=$1 crate=$2 target=$3 name=$4
cargo test -q -p "$crate" --test "$target" --no-run --locked
log=$(mktemp /tmp/uadpbench-stress.XXXXXX)
for i in $(seq 1 "$n"); do
  if ! cargo test -q -p "$crate" --test "$target" --locked -- --exact "$name" --nocapture >"$log" 2>&1; then
    echo "run $i of $n FAILED; log: $log" >&2
    tail -40 "$log" >&2
    exit 1
  fi
  printf '\r%s: %d/%d passed' "$name" "$i" "$n"
done
printf '\n'
rm -f "$log"
