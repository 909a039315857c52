#!/usr/bin/env bash
# What each way of observing adds to a udp ping-pong: `uadpbench overhead` (probes off / on /
# bpftrace on the same tracepoints, interleaved repetitions, paired differences) for the
# probes' event mode (`--probes all`, with bpftrace), the `minimal` set and histogram mode
# (`--probes-mode histogram`), under both placements. Each overhead invocation has its own
# probes-off arm; compare the paired differences (Δ p50), not absolute values across lines.
#
#   sudo bench/scripts/probe_modes_cost.sh [REPETITIONS]     (default 6)
#
# Environment: BIN (default target/release/uadpbench), COUNT (default 5000), WARMUP (default
# 1000), PLACEMENTS (default "cross-cpu same-cpu"), OUT (default results/probe-modes-<UTC>).
set -euo pipefail
cd "$(dirname "$0")/../.."
reps="${1:-6}"
bin="${BIN:-target/release/uadpbench}"
count="${COUNT:-5000}" warmup="${WARMUP:-1000}"
placements="${PLACEMENTS:-cross-cpu same-cpu}"
[ "$(id -u)" = 0 ] || { echo "run as root (namespaces, BPF, PM QoS): sudo $0 $*" >&2; exit 1; }
[ -x "$bin" ] || { echo "not an executable: $bin (cargo build --release -p uadpbench)" >&2; exit 2; }
work="${OUT:-results/probe-modes-$(date -u +%Y%m%dT%H%M%SZ)}"
mkdir -p "$work"
for pl in $placements; do
  for arm in "events:--probes all --bpftrace" "minimal:--probes minimal" "histogram:--probes all --probes-mode histogram"; do
    name=${arm%%:*} flags=${arm#*:}
    d="$work/$pl-$name"
    # shellcheck disable=SC2086 # flags are words
    "$bin" overhead --path udp --mode pingpong --count "$count" --warmup "$warmup" \
      --repetitions "$reps" --placement "$pl" $flags --out "$d" >"$d.log" 2>&1 \
      || { echo "overhead failed: $d.log" >&2; tail -5 "$d.log" >&2; exit 1; }
    echo "== $pl, $name ($flags): $d/overhead.csv"
    grep -E "Δ|delta|p50|arm" "$d.log" | head -12 || true
  done
done | tee "$work/probe_modes.txt"
echo "runs and logs: $work/"
