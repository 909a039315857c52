#!/usr/bin/env bash
# Side-by-side benchmark of uadpbench against the instruments a user would otherwise reach for,
# on the same kind of topology (two network namespaces joined by a veth pair, MTU 1500),
# interleaved round by round so that machine drift hits every tool alike. One command, as root:
#
#   sudo bench/scripts/side_by_side.sh [ROUNDS]          (ROUNDS default 5)
#
# Environment: SECS (length of each sockperf/iperf3/flood run, default 3), PAYLOAD (UDP payload =
# UADP message bytes, default 64), COUNT (uadpbench ping-pong messages per run, default 20000),
# OUT (results directory, default results/side-by-side-<UTC time>: uadpbench's run directories,
# the overhead directory and side_by_side.txt, a copy of the printed summary), SOCKPERF_IOMUX
# (sockperf's -F on both ends: recvfrom, the default here, like uadpbench's blocking receive;
# epoll is sockperf's own default).
#
# (a) latency: uadpbench UDP pingpong vs `sockperf ping-pong --full-rtt` (both report the full
#     round trip; sockperf server in namespace b, client in a): median RTT of each, per round,
#     and the ratio of the medians over all rounds (issue target: uadpbench within 5 %).
#     uadpbench runs twice per round: with its default connected sockets, and with
#     --udp-unconnected, set up like sockperf's (sendto/recvfrom, no connect()). Also
#     uadpbench with side B in a second process (`uadpbench agent` in namespace b, the run
#     with --peer in a, a control veth of its own): two processes like sockperf's client and
#     server, where uadpbench's own run has two threads of one process (AGENT=0 leaves it out).
# (b) throughput: uadpbench UDP flood (received messages/s; --batch 1 = one sendto per message
#     like iperf3, and the default sendmmsg batch of 32) vs `iperf3 -u -b 0 -l PAYLOAD`
#     (datagrams the server received per second), same payload size.
# (c) instrumentation: `uadpbench overhead --bpftrace` (probes off / uadpbench probes / bpftrace
#     with the equivalent tracepoints, ROUNDS repetitions each, interleaved): the added median
#     RTT and the BPF run time per round trip of each, and their ratio (target: uadpbench ≤ 1/5
#     of bpftrace).
#
# Conditions, the same for every tool: PLACEMENT=cross-cpu (default; the client/initiator on CPU_A,
# the server/reflector on CPU_B, two distinct CPUs) or same-cpu (both on one CPU). sockperf and
# iperf3 run under `taskset -c` on those CPUs, uadpbench with --cpu-a/--cpu-b; the script holds PM
# QoS (/dev/cpu_dma_latency = 0, as cyclictest and uadpbench do) for its whole duration, so no
# tool pays for waking a halted CPU.
#
# uadpbench creates its own namespaces per run; sockperf and iperf3 run in uadpbench-cmp<PID>-a/b,
# created here and removed on exit (`uadpbench cleanup` also finds leftovers by the prefix).
# Needs: sockperf, iperf3, bpftrace, python3 (scripts/setup.sh installs them).
set -euo pipefail
cd "$(dirname "$0")/../.."
rounds="${1:-5}"
secs="${SECS:-3}"
payload="${PAYLOAD:-64}"
# sockperf's way of waiting for a datagram (its -F): recvfrom (default here: a blocking
# recvfrom per message, as uadpbench's threads do), or epoll/poll/select (sockperf's own
# default, epoll: one more system call and wake-up path per message).
iomux="${SOCKPERF_IOMUX:-recvfrom}"
count="${COUNT:-20000}"
bin=target/release/uadpbench

[ "$(id -u)" = 0 ] || { echo "run as root (namespaces, BPF): sudo $0 $*" >&2; exit 1; }
for t in sockperf iperf3 bpftrace python3; do
  command -v "$t" >/dev/null || { echo "$t missing: run scripts/setup.sh" >&2; exit 1; }
done
if ! { [ -x "$bin" ] && "$bin" overhead --help >/dev/null 2>&1; }; then
  echo "building $bin ..." >&2
  cargo build --release -p uadpbench >&2
fi

placement="${PLACEMENT:-cross-cpu}"
# Default CPUs as uadpbench chooses them: B the highest usable CPU, A the next one below.
read -r def_a def_b < <(python3 -c '
import os
u = sorted(os.sched_getaffinity(0))
print(u[-2] if len(u) > 1 else u[-1], u[-1])')
case "$placement" in
  cross-cpu) cpu_a="${CPU_A:-$def_a}"; cpu_b="${CPU_B:-$def_b}" ;;
  same-cpu) cpu_a="${CPU_A:-$def_b}"; cpu_b="${CPU_B:-$cpu_a}" ;;
  *) echo "PLACEMENT must be cross-cpu or same-cpu" >&2; exit 2 ;;
esac
# PM QoS: held while fd 9 is open (until the script exits).
exec 9>/dev/cpu_dma_latency
printf '\x00\x00\x00\x00' >&9
pin_a=(taskset -c "$cpu_a"); pin_b=(taskset -c "$cpu_b")
ub_place=(--placement "$placement" --cpu-a "$cpu_a" --cpu-b "$cpu_b")

id="cmp$$"
a="uadpbench-$id-a"; b="uadpbench-$id-b"
work="${OUT:-results/side-by-side-$(date -u +%Y%m%dT%H%M%SZ)}"
mkdir -p "$work"
pids=()
cleanup() {
  local p
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  ip netns del "$a" 2>/dev/null || true
  ip netns del "$b" 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM
ip netns add "$a"; ip netns add "$b"
ip -n "$a" link add "ub${id}a" type veth peer name "ub${id}b" netns "$b"
ip -n "$a" addr add 198.18.0.1/24 dev "ub${id}a"; ip -n "$b" addr add 198.18.0.2/24 dev "ub${id}b"
for ns in "$a" "$b"; do ip -n "$ns" link set lo up; done
ip -n "$a" link set "ub${id}a" mtu 1500 up; ip -n "$b" link set "ub${id}b" mtu 1500 up
# The agent's control link (its own veth pair, so the measured one carries only the benchmark).
ip -n "$a" link add "uc${id}a" type veth peer name "uc${id}b" netns "$b"
ip -n "$a" addr add 198.19.0.1/30 dev "uc${id}a"; ip -n "$b" addr add 198.19.0.2/30 dev "uc${id}b"
ip -n "$a" link set "uc${id}a" up; ip -n "$b" link set "uc${id}b" up
sleep 1

# Starts a server in namespace b in the background; `ip netns exec` execs it, so $! is its pid.
start_server() { ip netns exec "$b" "${pin_b[@]}" "$@" >/dev/null 2>&1 & pids+=("$!"); sleep 0.5; }
stop_server() {
  local p="${pids[-1]}"
  kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true
  unset 'pids[-1]'
}

# sockperf median RTT in ns. Its output: "---> percentile 50.000 =    10.582" (µs).
# -F needs the address in a feed file (-f): one UDP line.
sockperf_p50() {
  local feed="$work/sockperf_feed.txt"
  echo "U:198.18.0.2:11111" >"$feed"
  start_server sockperf server -f "$feed" -F "$iomux"
  local out
  out=$(ip netns exec "$a" "${pin_a[@]}" sockperf ping-pong -f "$feed" -F "$iomux" -m "$payload" -t "$secs" --full-rtt 2>&1) || true
  stop_server
  echo "$out" | awk '/percentile 50.000/ {print $NF * 1000; found=1} END {if (!found) print "nan"}'
}

# summary.csv value: metric statistic (columns: run_id,path,encap,mode,payload_bytes,metric,statistic,value,unit)
summary_value() { awk -F, -v m="$2" -v s="$3" '$6==m && $7==s {print $8; f=1} END {if (!f) print "nan"}' "$1/summary.csv"; }

# uadpbench ping-pong RTT p50; $2: extra flags (--udp-unconnected: sockets set up as sockperf's).
uadpbench_p50() {
  local dir="$work/pingpong${2:+-unconnected}-r$1"
  # shellcheck disable=SC2086 # $2 is a flag or nothing
  "$bin" run --path udp --mode pingpong --count "$count" --warmup 2000 --payload "$payload" "${ub_place[@]}" ${2:-} --out "$dir" >/dev/null 2>&1
  summary_value "$dir" rtt p50
}

# uadpbench with the reflector in an agent process (pinned like sockperf's server): RTT p50.
with_agent="${AGENT:-1}"
uadpbench_agent_p50() {
  local dir="$work/pingpong-agent-r$1"
  ip netns exec "$a" "${pin_a[@]}" "$bin" run --peer 198.19.0.2 --interface "ub${id}a" --peer-interface "ub${id}b" --allow-external-interface \
    --path udp --mode pingpong --count "$count" --warmup 2000 --payload "$payload" "${ub_place[@]}" --out "$dir" >/dev/null 2>&1 || true
  [ -f "$dir/summary.csv" ] && summary_value "$dir" rtt p50 || echo nan
}

uadpbench_flood() {
  local dir="$work/flood-batch$2-r$1"
  "$bin" run --path udp --mode flood --duration "$secs" --batch "$2" --payload "$payload" "${ub_place[@]}" --out "$dir" >/dev/null 2>&1
  summary_value "$dir" rate received_per_second
}

# iperf3 UDP at full speed: datagrams the server received per second.
iperf3_rate() {
  start_server iperf3 -s -1 -B 198.18.0.2 -p 5201
  local json
  json=$(ip netns exec "$a" "${pin_a[@]}" iperf3 -c 198.18.0.2 -p 5201 -u -b 0 -l "$payload" -t "$secs" --json 2>&1) || true
  stop_server
  python3 -c '
import json, sys
try:
    s = json.loads(sys.stdin.read())["end"]["sum"]
    print((s["packets"] - s["lost_packets"]) / s["seconds"])
except Exception:
    print("nan")' <<<"$json"
}

median() { printf '%s\n' "$@" | grep -v nan | sort -g | awk '{a[NR]=$1} END {if (NR==0) print "nan"; else print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
ratio() { awk -v x="$1" -v y="$2" 'BEGIN { if (x=="nan" || y=="nan" || y==0) print "n/a"; else printf "%.3f", x/y }'; }

echo "conditions: placement $placement (client/initiator CPU $cpu_a, server/reflector CPU $cpu_b), PM QoS /dev/cpu_dma_latency held at 0"
echo "side by side: $rounds rounds, $payload-byte messages, ${secs} s per sockperf/iperf3/flood run; results in $work"
if [ "$with_agent" = 1 ]; then
  # The run in namespace a is the controller; the agent (the whole process) on the reflector's CPU.
  ip netns exec "$b" "${pin_b[@]}" "$bin" agent --listen 198.19.0.2 --allow-external-interface >"$work/agent.log" 2>&1 &
  pids+=("$!"); sleep 1
fi
s_all=(); u_all=(); n_all=(); g_all=(); f1_all=(); f32_all=(); i_all=()
for r in $(seq 1 "$rounds"); do
  s=$(sockperf_p50); u=$(uadpbench_p50 "$r"); n=$(uadpbench_p50 "$r" --udp-unconnected)
  g=nan; [ "$with_agent" = 1 ] && g=$(uadpbench_agent_p50 "$r")
  i=$(iperf3_rate); f1=$(uadpbench_flood "$r" 1); f32=$(uadpbench_flood "$r" 32)
  printf 'round %d: RTT p50 sockperf %.0f ns, uadpbench %.0f ns, unconnected %.0f ns, with an agent process %.0f ns | received/s iperf3 %.0f, uadpbench flood batch 1 %.0f, batch 32 %.0f\n' \
    "$r" "$s" "$u" "$n" "$g" "$i" "$f1" "$f32"
  s_all+=("$s"); u_all+=("$u"); n_all+=("$n"); g_all+=("$g"); i_all+=("$i"); f1_all+=("$f1"); f32_all+=("$f32")
done
sm=$(median "${s_all[@]}"); um=$(median "${u_all[@]}"); nm=$(median "${n_all[@]}"); gm=$(median "${g_all[@]}")
im=$(median "${i_all[@]}"); f1m=$(median "${f1_all[@]}"); f32m=$(median "${f32_all[@]}")

echo "(c) uadpbench overhead --bpftrace, $rounds repetitions per arm ..."
ov="$work/overhead"
"$bin" overhead --path udp --mode pingpong --count "$count" --payload "$payload" \
  --repetitions "$rounds" --bpftrace "${ub_place[@]}" --out "$ov" >"$work/overhead.txt" 2>&1 \
  || { cat "$work/overhead.txt" >&2; exit 1; }
# overhead.csv: path,encap,mode,payload_bytes,interval_us,metric,statistic,arm,probes,repetitions,mean_off,mean_arm,delta,ci_low,ci_high,unit
ov_col() { awk -F, -v arm="$1" -v col="$2" '$6=="rtt" && $7=="p50" && $8==arm {print $col; f=1} END {if (!f) print "nan"}' "$ov/overhead.csv"; }
# overhead_cost.csv: arm,program,mechanism,runs,run_count,run_time_ns,mean_ns_per_run,ns_per_message
cost_col() { awk -F, -v arm="$1" -v col="$2" '$1==arm && $2=="total" {print ($col=="" ? "nan" : $col); f=1} END {if (!f) print "nan"}' "$ov/overhead_cost.csv"; }
off=$(ov_col probes 11)
dp=$(ov_col probes 13); dpl=$(ov_col probes 14); dph=$(ov_col probes 15)
db=$(ov_col bpftrace 13); dbl=$(ov_col bpftrace 14); dbh=$(ov_col bpftrace 15)
cp=$(cost_col probes 8); cb=$(cost_col bpftrace 8)
np=$(cost_col probes 7); nb=$(cost_col bpftrace 7)

{
echo
echo "== side by side ($(uname -r), $(nproc) CPUs, $(date -u +%Y-%m-%dT%H:%MZ); placement $placement, CPUs $cpu_a/$cpu_b, PM QoS 0, sockperf -F $iomux) =="
awk -v s="$sm" -v u="$um" -v q="$(ratio "$um" "$sm")" 'BEGIN {
  printf "(a) RTT p50, median of rounds:  sockperf %.0f ns   uadpbench %.0f ns   uadpbench/sockperf = %s\n", s, u, q }'
awk -v s="$sm" -v n="$nm" -v q="$(ratio "$nm" "$sm")" 'BEGIN {
  printf "    unconnected sockets, as sockperf uses them (--udp-unconnected): uadpbench %.0f ns   /sockperf = %s\n", n, q }'
awk -v s="$sm" -v g="$gm" -v q="$(ratio "$gm" "$sm")" 'BEGIN {
  printf "    two processes like sockperf (side B in an agent): uadpbench %.0f ns   /sockperf = %s\n", g, q }'
awk -v i="$im" -v f1="$f1m" -v f32="$f32m" -v q1="$(ratio "$f1m" "$im")" -v q32="$(ratio "$f32m" "$im")" 'BEGIN {
  printf "(b) received msg/s, median:     iperf3 %.0f   uadpbench batch 1 %.0f (x%s)   batch 32 %.0f (x%s)\n", i, f1, q1, f32, q32 }'
awk -v off="$off" -v dp="$dp" -v dpl="$dpl" -v dph="$dph" -v db="$db" -v dbl="$dbl" -v dbh="$dbh" -v q="$(ratio "$dp" "$db")" 'BEGIN {
  printf "(c) RTT p50 added (off %.0f ns): uadpbench probes %+.0f ns [%+.0f, %+.0f]   bpftrace %+.0f ns [%+.0f, %+.0f]   probes/bpftrace = %s\n", off, dp, dpl, dph, db, dbl, dbh, q }'
awk -v cp="$cp" -v cb="$cb" -v np="$np" -v nb="$nb" -v q="$(ratio "$cp" "$cb")" -v qn="$(ratio "$np" "$nb")" 'BEGIN {
  printf "    BPF run time per round trip: uadpbench probes %.0f ns   bpftrace %.0f ns   probes/bpftrace = %s (per program run: %.0f vs %.0f ns, %s)\n", cp, cb, q, np, nb, qn }'
echo "overhead details: $ov (overhead.csv, overhead_cost.csv)"
sed -n '/^overhead on/,/BPF program cost/p' "$work/overhead.txt" | grep -v 'BPF program cost'
} | tee "$work/side_by_side.txt"
