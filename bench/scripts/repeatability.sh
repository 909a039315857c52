#!/usr/bin/env bash
# Does the same command give the same number? Runs plain `uadpbench run --path P --mode
# pingpong` (default placement cross-cpu, PM QoS held) ROUNDS times per path, paths interleaved
# round by round, then the same with --placement same-cpu, and prints per path and placement the
# RTT p50 of every round, max/min of them (target ≤ 1.25) and each run's quality flag.
#
#   sudo bench/scripts/repeatability.sh [ROUNDS]      (ROUNDS default 4)
#
# Environment: COUNT (round trips per run, default 10000), PLACEMENTS (default
# "cross-cpu same-cpu"), EXTRA (more `run` flags, e.g. "--idle-latency-us off" to see what the
# controls prevent), OUT (default results/repeatability-<UTC time>; the printed table is also
# written to OUT/repeatability.txt).
set -euo pipefail
cd "$(dirname "$0")/../.."
rounds="${1:-4}"
count="${COUNT:-10000}"
placements="${PLACEMENTS:-cross-cpu same-cpu}"
bin=target/release/uadpbench
[ "$(id -u)" = 0 ] || { echo "run as root (namespaces, PM QoS): sudo $0 $*" >&2; exit 1; }
if ! { [ -x "$bin" ] && "$bin" run --help | grep -q -- --placement; }; then
  echo "building $bin ..." >&2
  cargo build --release -p uadpbench >&2
fi
work="${OUT:-results/repeatability-$(date -u +%Y%m%dT%H%M%SZ)}"
mkdir -p "$work"
# summary.csv: run_id,path,encap,mode,payload_bytes,metric,statistic,value,unit,placement,cpu_a,cpu_b,quality
p50() { awk -F, '$6=="rtt" && $7=="p50" {printf "%.2f", $8/1000; f=1} END {if (!f) print "nan"}' "$1/summary.csv"; }
quality() { awk -F, 'NR==2 {print $13}' "$1/summary.csv"; }
declare -A vals quals
for r in $(seq 1 "$rounds"); do
  for pl in $placements; do
    for p in udp eth xdp; do
      d="$work/$pl-$p-r$r"
      # shellcheck disable=SC2086
      "$bin" run --path "$p" --mode pingpong --count "$count" --placement "$pl" ${EXTRA:-} --out "$d" >"$d.log" 2>&1 \
        || { echo "run failed: $d.log" >&2; tail -5 "$d.log" >&2; exit 1; }
      vals[$pl-$p]+="$(p50 "$d") "
      quals[$pl-$p]+="$(quality "$d") "
      printf '.' >&2
    done
  done
done
echo >&2
{
  echo "== repeatability: $rounds interleaved rounds of \`uadpbench run --path P --mode pingpong --count $count ${EXTRA:-}\` =="
  echo "   $(uname -r), $(nproc) CPUs, cpuidle $(cat /sys/devices/system/cpu/cpuidle/current_driver 2>/dev/null || echo none), $(date -u +%Y-%m-%dT%H:%MZ)"
  printf '%-10s %-4s %-40s %8s  %s\n' placement path "RTT p50 per round (µs)" "max/min" "quality per round"
  for pl in $placements; do
    for p in udp eth xdp; do
      v=${vals[$pl-$p]}
      ratio=$(printf '%s\n' $v | awk 'NR==1 {mn=$1; mx=$1} {if ($1<mn) mn=$1; if ($1>mx) mx=$1} END {printf "%.3f", mx/mn}')
      printf '%-10s %-4s %-40s %8s  %s\n' "$pl" "$p" "$v" "$ratio" "${quals[$pl-$p]}"
    done
  done
} | tee "$work/repeatability.txt"
echo "runs: $work/*/ (summary.csv, meta.json with the conditions)"
