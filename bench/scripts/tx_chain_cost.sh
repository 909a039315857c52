#!/usr/bin/env bash
# What does reading each transmitted frame once save? Interleaved A/B of the probes with the
# transmit-chain cache on (A, the default) and off (B, UADPBENCH_PROBE_TX_CHAIN=off): each a
# `run --path P --mode pingpong --probes all` under the default controlled conditions
# (cross-cpu, PM QoS held). The warm-up calibrates the programs' cost (probe_cost.csv); the
# measured packets run without BPF statistics. Prints per arm the median over the rounds of
# the RTT p50, of the BPF run time per message, and of ns per run of the transmit programs.
#
#   sudo bench/scripts/tx_chain_cost.sh [ROUNDS]     (ROUNDS default 6)
#
# Environment: BIN (default target/release/uadpbench), PATHS (default "udp eth"), COUNT
# (default 5000), WARMUP (default 2000), PLACEMENT (default cross-cpu), OUT (default
# results/tx-chain-<UTC time>; the table is also written to OUT/tx_chain.txt).
set -euo pipefail
cd "$(dirname "$0")/../.."
rounds="${1:-6}"
bin="${BIN:-target/release/uadpbench}"
paths="${PATHS:-udp eth}"
count="${COUNT:-5000}" warmup="${WARMUP:-2000}" placement="${PLACEMENT:-cross-cpu}"
[ "$(id -u)" = 0 ] || { echo "run as root (namespaces, BPF, PM QoS): sudo $0 $*" >&2; exit 1; }
[ -x "$bin" ] || { echo "not an executable: $bin (cargo build --release -p uadpbench)" >&2; exit 2; }
work="${OUT:-results/tx-chain-$(date -u +%Y%m%dT%H%M%SZ)}"
mkdir -p "$work"
stat() { awk -F, -v m="$2" -v s="$3" '$6==m && $7==s {printf "%.3f", $8/1000; f=1} END {if (!f) print "nan"}' "$1/summary.csv"; }
# probe_cost.csv: ns per run of one program (header names the columns).
cost() {
  awk -F, -v p="$2" 'NR==1 {for (i=1;i<=NF;i++) c[$i]=i; next}
    $c["program"]==p && $c["run_count"]>0 {printf "%.0f", $c["run_time_ns"]/$c["run_count"]; f=1}
    END {if (!f) print "nan"}' "$1/probe_cost.csv"
}
progs="btf_net_dev_queue btf_net_dev_start_xmit btf_netif_rx btf_net_dev_xmit btf_netif_receive_skb"
declare -A vals
for r in $(seq 1 "$rounds"); do
  for p in $paths; do
    if [ $((r % 2)) = 1 ]; then order="on off"; else order="off on"; fi
    for arm in $order; do
      d="$work/$arm-$p-r$r"
      UADPBENCH_PROBE_TX_CHAIN=$arm "$bin" run --path "$p" --mode pingpong --count "$count" \
        --warmup "$warmup" --placement "$placement" --probes all --out "$d" >"$d.log" 2>&1 \
        || { echo "run failed: $d.log" >&2; tail -5 "$d.log" >&2; exit 1; }
      vals[$arm-$p-rtt]+="$(stat "$d" rtt p50) "
      vals[$arm-$p-bpf]+="$(stat "$d" probe_cost per_message) "
      for g in $progs; do vals[$arm-$p-$g]+="$(cost "$d" "$g") "; done
      printf '.' >&2
    done
  done
done
printf '\n' >&2
median() { tr ' ' '\n' | grep -v '^$' | grep -v nan | sort -g | awk '{v[NR]=$1} END {if (!NR) print "nan"; else if (NR%2) print v[(NR+1)/2]; else printf "%.3f\n", (v[NR/2]+v[NR/2+1])/2}'; }
{
  echo "$bin, $(date -u +%FT%TZ), $rounds rounds, arms interleaved; ping-pong 64 B, $count round trips after $warmup warm-up,"
  echo "--placement $placement, PM QoS held, --probes all; medians over the rounds"
  echo "(RTT p50 µs; BPF µs per message and ns per program run from the warm-up's statistics)"
  for p in $paths; do
    echo
    echo "$p: arm | RTT p50 | BPF per msg | $progs"
    for arm in on off; do
      line="$arm | $(echo "${vals[$arm-$p-rtt]}" | median) | $(echo "${vals[$arm-$p-bpf]}" | median)"
      for g in $progs; do line+=" | $(echo "${vals[$arm-$p-$g]}" | median)"; done
      echo "$line"
      echo "   RTT per round: ${vals[$arm-$p-rtt]}"
    done
  done
} | tee "$work/tx_chain.txt"
echo "runs and logs: $work/"
