#!/usr/bin/env bash
# Side-by-side check of uadpbench's UDP ping-pong against sockperf, an independent instrument,
# on the same kind of topology (two namespaces joined by a veth pair, 198.18.0.1 ⇄ 198.18.0.2,
# MTU 1500), interleaved so that machine drift hits both alike.
#   bench/scripts/compare_sockperf.sh [ROUNDS] [SECONDS_PER_SOCKPERF_RUN]
# Prints each round's round-trip medians and the ratio of the medians of all rounds.
# sockperf reports half the round trip ("latency"); --full-rtt makes it report the round trip.
set -euo pipefail
cd "$(dirname "$0")/../.."
rounds="${1:-3}"
secs="${2:-5}"
bin=target/release/uadpbench
[ -x "$bin" ] || cargo build --release --locked -p uadpbench >/dev/null 2>&1
command -v sockperf >/dev/null || { echo "sockperf missing: run scripts/setup.sh" >&2; exit 1; }

id="cmp$$"
a="uadpbench-$id-a"; b="uadpbench-$id-b"
cleanup() { ip netns del "$a" 2>/dev/null || true; ip netns del "$b" 2>/dev/null || true; }
trap cleanup EXIT INT TERM
ip netns add "$a"; ip netns add "$b"
ip -n "$a" link add "ub${id}a" type veth peer name "ub${id}b" netns "$b"
ip -n "$a" addr add 198.18.0.1/24 dev "ub${id}a"; ip -n "$b" addr add 198.18.0.2/24 dev "ub${id}b"
for ns in "$a" "$b"; do ip -n "$ns" link set lo up; done
ip -n "$a" link set "ub${id}a" up; ip -n "$b" link set "ub${id}b" up
sleep 1

sockperf_p50() {
  ip netns exec "$b" sockperf server -i 198.18.0.2 -p 11111 >/dev/null 2>&1 &
  local srv=$!
  sleep 0.5
  local out
  out=$(ip netns exec "$a" sockperf ping-pong -i 198.18.0.2 -p 11111 -m 64 -t "$secs" --full-rtt 2>&1)
  kill "$srv" 2>/dev/null; wait "$srv" 2>/dev/null || true
  # "---> percentile 50.000 =    10.582" (usec)
  echo "$out" | awk '/percentile 50.000/ {print $NF * 1000}'
}

uadpbench_p50() {
  local dir
  dir=$(mktemp -d)
  "$bin" run --path udp --mode pingpong --count 20000 --warmup 2000 --payload 64 --out "$dir" >/dev/null 2>&1
  awk -F, '$6=="rtt" && $7=="p50" {print $8}' "$dir/summary.csv"
  rm -rf "$dir"
}

s_all=(); u_all=()
for r in $(seq 1 "$rounds"); do
  s=$(sockperf_p50); u=$(uadpbench_p50)
  printf 'round %d: sockperf RTT p50 %.0f ns, uadpbench RTT p50 %.0f ns\n' "$r" "$s" "$u"
  s_all+=("$s"); u_all+=("$u")
done
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
sm=$(median "${s_all[@]}"); um=$(median "${u_all[@]}")
awk -v s="$sm" -v u="$um" 'BEGIN { printf "median of rounds: sockperf %.0f ns, uadpbench %.0f ns, uadpbench/sockperf = %.3f\n", s, u, u/s }'
