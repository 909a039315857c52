#!/usr/bin/env bash
# Does running side B on an agent change the numbers? The local two-process stand-in of a
# two-host run (docs/two-hosts.md) against the in-process run, interleaved:
#
#   local:  uadpbench run --path P --mode M                     (one process, its own topology)
#   agent:  uadpbench run --peer … --path P --mode M            (side B in `uadpbench agent`,
#           a second process in another namespace, started over a TCP control connection)
#
# Both use the default placement (cross-cpu: side A on the first usable CPU, side B on the
# highest) and hold PM QoS at 0 µs; the stand-in's agent runs on this kernel, so cyclic runs use
# the one exact clock (--peer-clock auto). For every configuration it prints the p50 (RTT for
# ping-pong, one-way for cyclic) of every round, the median of the rounds on each side and the
# ratio agent/local (target: within 10 %). The two sides of a round run back to back, in
# alternating order (local first in odd rounds, agent first in even ones: a drift of the host
# during a round favours neither), and each round gives a paired ratio agent/local; the table
# ends with the median of the paired ratios and its 95 % bootstrap interval, and says whether the
# interval lies within 0.9–1.1 ("yes"), outside it ("no"), or crosses a bound ("undecided").
#
#   sudo bench/scripts/agent_vs_local.sh [ROUNDS]      (ROUNDS default 4)
#
# Environment: COUNT (ping-pong round trips, default 10000), CYCLIC_COUNT (cyclic messages at
# 1 ms, default 5000), PATHS (default "udp eth xdp"), MODES (default "pingpong cyclic"),
# PLACEMENT (cross-cpu, the default, or same-cpu: both sides on one CPU — then the agent's side
# is another process on that CPU, the local one another thread of the same process), EXTRA (more
# `run` flags for both sides, e.g. "--payload 1400" or "--encap udp" for the eth/xdp paths), OUT
# (default results/agent-vs-local-<UTC time>; the table is also written to OUT/table.txt).
set -euo pipefail
cd "$(dirname "$0")/../.."
rounds="${1:-4}"
count="${COUNT:-10000}"
cyclic_count="${CYCLIC_COUNT:-5000}"
paths="${PATHS:-udp eth xdp}"
modes="${MODES:-pingpong cyclic}"
placement="${PLACEMENT:-cross-cpu}"
bin=target/release/uadpbench
[ "$(id -u)" = 0 ] || { echo "run as root (namespaces, XDP, PM QoS): sudo $0 $*" >&2; exit 1; }
if ! { [ -x "$bin" ] && "$bin" run --help | grep -q -- --peer-clock; }; then
  echo "building $bin ..." >&2
  cargo build --release -p uadpbench >&2
fi
work="${OUT:-results/agent-vs-local-$(date -u +%Y%m%dT%H%M%SZ)}"
mkdir -p "$work"

# The stand-in: two namespaces named as uadpbench names its own (the id starts with this
# script's pid, so `uadpbench cleanup` sees a live owner), a veth pair with RFC 2544 addresses.
id=$(printf '%07x%05x' "$$" 1)
ns_a="uadpbench-$id-a" ns_b="uadpbench-$id-b" if_a="ub${id}a" if_b="ub${id}b"
agent_pid=
cleanup() {
  [ -n "$agent_pid" ] && kill "$agent_pid" 2>/dev/null && wait "$agent_pid" 2>/dev/null || true
  ip netns del "$ns_a" 2>/dev/null || true
  ip netns del "$ns_b" 2>/dev/null || true
}
trap cleanup EXIT
ip netns add "$ns_a"
ip netns add "$ns_b"
ip link add "$if_a" netns "$ns_a" type veth peer name "$if_b" netns "$ns_b"
ip -n "$ns_a" addr add 198.18.0.1/30 dev "$if_a"
ip -n "$ns_b" addr add 198.18.0.2/30 dev "$if_b"
for n in "$ns_a:$if_a" "$ns_b:$if_b"; do
  ip -n "${n%%:*}" link set lo up
  ip -n "${n%%:*}" link set "${n##*:}" up
done
ip netns exec "$ns_b" "$bin" agent --listen 198.18.0.2:4850 >"$work/agent.log" 2>&1 &
agent_pid=$!
for _ in $(seq 1 50); do
  grep -q listening "$work/agent.log" 2>/dev/null && break
  sleep 0.1
done
grep -q listening "$work/agent.log" || { echo "the agent did not start:" >&2; cat "$work/agent.log" >&2; exit 1; }

# summary.csv: run_id,path,encap,mode,payload_bytes,metric,statistic,value,unit,...
p50() {
  awk -F, -v m="$2" '$6==m && $7=="p50" {printf "%.2f", $8/1000; f=1} END {if (!f) print "nan"}' "$1/summary.csv"
}
declare -A vals
for r in $(seq 1 "$rounds"); do
  for m in $modes; do
    for p in $paths; do
      case $m in
        pingpong) args=(--placement "$placement" --mode pingpong --count "$count"); metric=rtt ;;
        cyclic) args=(--placement "$placement" --mode cyclic --interval-us 1000 --count "$cyclic_count"); metric=one_way ;;
        *) echo "unknown mode $m (pingpong or cyclic)" >&2; exit 2 ;;
      esac
      # shellcheck disable=SC2206
      args+=(${EXTRA:-})
      if [ $((r % 2)) = 1 ]; then order="local agent"; else order="agent local"; fi
      for side in $order; do
        d="$work/$m-$p-$side-r$r"
        if [ "$side" = local ]; then
          "$bin" run --path "$p" "${args[@]}" --out "$d" >"$d.log" 2>&1 \
            || { echo "run failed: $d.log" >&2; tail -5 "$d.log" >&2; exit 1; }
        else
          ip netns exec "$ns_a" "$bin" run --peer 198.18.0.2 --interface "$if_a" \
            --peer-interface "$if_b" --path "$p" "${args[@]}" --out "$d" >"$d.log" 2>&1 \
            || { echo "run failed: $d.log" >&2; tail -5 "$d.log" >&2; exit 1; }
        fi
        vals[$m-$p-$side]+="$(p50 "$d" "$metric") "
        printf '.' >&2
      done
    done
  done
done
echo >&2
median() { printf '%s\n' "$@" | sort -g | awk '{v[NR]=$1} END {if (NR%2) print v[(NR+1)/2]; else printf "%.2f", (v[NR/2]+v[NR/2+1])/2}'; }
{
  echo "== agent vs in-process: $rounds interleaved rounds, placement $placement, PM QoS 0 µs${EXTRA:+, extra flags: $EXTRA} =="
  echo "   $(uname -r), $(nproc) CPUs, cpuidle $(cat /sys/devices/system/cpu/cpuidle/current_driver 2>/dev/null || echo none), $(date -u +%Y-%m-%dT%H:%MZ)"
  echo "   ping-pong: RTT p50, $count round trips; cyclic: one-way p50, $cyclic_count messages every 1 ms (µs)"
  printf '%-9s %-4s %-30s %-30s %7s %7s %6s\n' mode path "local p50 per round" "agent p50 per round" local agent ratio
  for m in $modes; do
    for p in $paths; do
      l=${vals[$m-$p-local]} a=${vals[$m-$p-agent]}
      # shellcheck disable=SC2086
      ml=$(median $l) ma=$(median $a)
      printf '%-9s %-4s %-30s %-30s %7s %7s %6s\n' "$m" "$p" "$l" "$a" "$ml" "$ma" \
        "$(awk -v a="$ma" -v l="$ml" 'BEGIN {printf "%.3f", a/l}')"
    done
  done
  echo
  echo "paired ratios agent/local (one per round), their median and 95 % bootstrap interval:"
  for m in $modes; do
    for p in $paths; do
      python3 - "$m" "$p" "${vals[$m-$p-local]}" "${vals[$m-$p-agent]}" <<'PY'
import random, statistics, sys
mode, path, local, agent = sys.argv[1], sys.argv[2], sys.argv[3].split(), sys.argv[4].split()
ratios = [float(a) / float(l) for l, a in zip(local, agent) if l != "nan" and a != "nan"]
if not ratios:
    print(f"{mode:<9} {path:<4} no rounds")
    sys.exit()
rng = random.Random(1)
boot = sorted(statistics.median(rng.choices(ratios, k=len(ratios))) for _ in range(10000))
lo, hi = boot[249], boot[9749]
within = "yes" if lo >= 0.9 and hi <= 1.1 else ("no" if hi < 0.9 or lo > 1.1 else "undecided")
print(f"{mode:<9} {path:<4} median {statistics.median(ratios):.3f}  95 % CI {lo:.3f}–{hi:.3f}  "
      f"within 10 %: {within}  ({len(ratios)} rounds: {' '.join(f'{r:.2f}' for r in ratios)})")
PY
    done
  done
} | tee "$work/table.txt"
echo "runs: $work/*/ (summary.csv, meta.json with the conditions of each run)"
