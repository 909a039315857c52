#!/usr/bin/env bash
# Did a change move the numbers? Interleaved A/B of two uadpbench binaries: A, B, A, B, … each
# a plain `run --path P --mode pingpong` under the default controlled conditions (cross-cpu,
# PM QoS held), so that drift of the machine hits both alike. Prints per path the RTT p50 of
# every round for A and B, the median of each, B/A of the medians, and how many rounds B was
# the faster one.
#
#   sudo bench/scripts/ab_pingpong.sh BIN_A BIN_B [ROUNDS]     (ROUNDS default 8)
#
# Build the two binaries first, e.g. for a commit against the working tree:
#   git worktree add /tmp/before <commit> && (cd /tmp/before && cargo build --release -p uadpbench)
#   cargo build --release -p uadpbench
#   sudo bench/scripts/ab_pingpong.sh /tmp/before/target/release/uadpbench target/release/uadpbench
#
# Environment: COUNT (round trips per run, default 10000), PATHS (default "udp eth xdp"),
# OUT (default results/ab-<UTC time>; the table is also written to OUT/ab.txt).
set -euo pipefail
cd "$(dirname "$0")/../.."
if [ $# -lt 2 ]; then
  sed -n '2,14p' "$0" >&2
  exit 2
fi
bin_a=$1 bin_b=$2 rounds="${3:-8}"
count="${COUNT:-10000}"
paths="${PATHS:-udp eth xdp}"
[ "$(id -u)" = 0 ] || { echo "run as root (namespaces, PM QoS): sudo $0 $*" >&2; exit 1; }
for b in "$bin_a" "$bin_b"; do
  [ -x "$b" ] || { echo "not an executable: $b" >&2; exit 2; }
done
work="${OUT:-results/ab-$(date -u +%Y%m%dT%H%M%SZ)}"
mkdir -p "$work"
# summary.csv: run_id,path,encap,mode,payload_bytes,metric,statistic,value,...
p50() { awk -F, '$6=="rtt" && $7=="p50" {printf "%.3f", $8/1000; f=1} END {if (!f) print "nan"}' "$1/summary.csv"; }
declare -A vals
for r in $(seq 1 "$rounds"); do
  for p in $paths; do
    # Alternate which binary goes first in a round, so neither always follows the other.
    if [ $((r % 2)) = 1 ]; then order="a b"; else order="b a"; fi
    for which in $order; do
      if [ "$which" = a ]; then bin=$bin_a; else bin=$bin_b; fi
      d="$work/$which-$p-r$r"
      "$bin" run --path "$p" --mode pingpong --count "$count" --out "$d" >"$d.log" 2>&1 \
        || { echo "run failed: $d.log" >&2; tail -5 "$d.log" >&2; exit 1; }
      vals[$which-$p]+="$(p50 "$d") "
      printf '.' >&2
    done
  done
done
printf '\n' >&2
median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{v[NR]=$1} END {if (NR%2) print v[(NR+1)/2]; else printf "%.3f\n", (v[NR/2]+v[NR/2+1])/2}'; }
{
  echo "A: $bin_a"
  echo "B: $bin_b"
  echo "udp/eth/xdp ping-pong, 64 B, $count round trips per run, $rounds rounds, A and B interleaved;"
  echo "conditions: uadpbench defaults (--placement cross-cpu, PM QoS 0 µs held); RTT p50 in µs"
  for p in $paths; do
    ma=$(echo "${vals[a-$p]}" | median)
    mb=$(echo "${vals[b-$p]}" | median)
    read -r -a va <<<"${vals[a-$p]}"
    read -r -a vb <<<"${vals[b-$p]}"
    faster=0
    for i in "${!va[@]}"; do
      awk -v a="${va[$i]}" -v b="${vb[$i]}" 'BEGIN {exit !(b < a)}' && faster=$((faster + 1))
    done
    printf '%-4s A: %s  (median %s)\n' "$p" "${vals[a-$p]}" "$ma"
    printf '%-4s B: %s  (median %s)\n' "" "${vals[b-$p]}" "$mb"
    awk -v a="$ma" -v b="$mb" -v f="$faster" -v n="${#va[@]}" -v p="$p" \
      'BEGIN {printf "%-4s B/A of the medians %.3f; B faster in %d of %d rounds\n", p, b/a, f, n}'
  done
} | tee "$work/ab.txt"
echo "runs: $work/ (each run's summary.csv, samples.csv, meta.json)"
