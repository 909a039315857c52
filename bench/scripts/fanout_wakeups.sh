#!/usr/bin/env bash
# How a fan-out run's subscribers are woken: one `uadpbench run --subscribers N` (cyclic) traced
# with bpftrace on sched:sched_waking and sched:sched_switch of the subscriber threads (ub-sub*),
# then, per published message, the order in which the subscribers were woken, the order in which
# they got their CPU, and how long after the first wake-up each one ran. As root:
#
#   sudo bench/scripts/fanout_wakeups.sh [N]          (N subscribers, default 4)
#
# Environment: PATH_KIND (udp, eth or xdp; default udp), COUNT (messages, default 2000), OUT
# (directory for the run and the trace, default results/fanout-wakeups-<UTC time>).
# bpftrace costs a few µs per event: the latencies of the traced run are higher than without it;
# the orders are what this script is for.
set -euo pipefail
cd "$(dirname "$0")/../.."
n=${1:-4}
path_kind=${PATH_KIND:-udp}
count=${COUNT:-2000}
out=${OUT:-results/fanout-wakeups-$(date -u +%Y%m%dT%H%M%SZ)}
bin=target/release/uadpbench
command -v bpftrace >/dev/null || { echo "bpftrace is not installed: scripts/setup.sh installs it" >&2; exit 2; }
[ -x "$bin" ] || cargo build --release -p uadpbench
mkdir -p "$out"
cat > "$out/wakeups.bt" <<'EOF'
tracepoint:sched:sched_waking /strncmp(args->comm, "ub-sub", 6) == 0/ {
  printf("W %llu %s %d\n", nsecs, args->comm, cpu);
}
tracepoint:sched:sched_switch /strncmp(args->next_comm, "ub-sub", 6) == 0/ {
  printf("S %llu %s %s\n", nsecs, args->next_comm, args->prev_comm);
}
EOF
bpftrace "$out/wakeups.bt" > "$out/wakeups.txt" 2> "$out/bpftrace.err" &
bt=$!
trap 'kill -INT $bt 2>/dev/null || true' EXIT
# bpftrace needs a moment to attach before the run starts.
for _ in $(seq 50); do grep -q "Attaching" "$out/wakeups.txt" 2>/dev/null && break; sleep 0.2; done
"$bin" run --path "$path_kind" --mode cyclic --subscribers "$n" --count "$count" \
  --out "$out/run" --force | tail -n +1 > "$out/run.txt"
sleep 1
kill -INT $bt; wait $bt || true
trap - EXIT
python3 - "$out/wakeups.txt" "$n" <<'EOF' | tee "$out/wakeups_summary.txt"
import collections, statistics, sys
events = []
for line in open(sys.argv[1]):
    p = line.split()
    if len(p) >= 3 and p[0] in ("W", "S"):
        events.append((int(p[1]), p[0], p[2].replace("ub-sub", "")))
events.sort()
n = int(sys.argv[2])
# One burst per published message: events less than 200 µs apart.
bursts, cur = [], []
for e in events:
    if cur and e[0] - cur[-1][0] > 200_000:
        bursts.append(cur)
        cur = []
    cur.append(e)
if cur:
    bursts.append(cur)
wake, run = collections.Counter(), collections.Counter()
first_run, step = [], collections.defaultdict(list)
used = 0
for b in bursts:
    w = [e for e in b if e[1] == "W"]
    s = [e for e in b if e[1] == "S"]
    if len(w) != n or len(s) < n:
        continue
    used += 1
    wake[" ".join(e[2] for e in w)] += 1
    run[" ".join(e[2] for e in s[:n])] += 1
    first_run.append((s[0][0] - w[0][0]) / 1e3)
    for i, e in enumerate(s[:n]):
        step[i + 1].append((e[0] - w[0][0]) / 1e3)
print(f"{used} of {len(bursts)} messages with every subscriber woken and run once")
print("order of wake-ups (subscriber numbers), most frequent:", wake.most_common(3))
print("order of getting the CPU, most frequent:", run.most_common(5))
for k in sorted(step):
    print(f"  {k}. subscriber to run: median {statistics.median(step[k]):.1f} µs after the first wake-up")
EOF
echo "trace: $out/wakeups.txt  run: $out/run/  summary: $out/wakeups_summary.txt"
