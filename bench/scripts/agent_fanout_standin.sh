#!/usr/bin/env bash
# Fan-out through agents on the local stand-in: one publisher namespace and eight subscriber
# namespaces on a bridge, each subscriber namespace running its own `uadpbench agent` reached
# over a control link of its own, and a campaign (udp, eth, xdp × 1, 2, 4, 8 subscribers,
# cyclic 500 µs, 64 B, interleaved repetitions) run through them with `[[peer.fanout]]`, then
# `uadpbench report`. It is the integration test
# `a_fanout_campaign_across_agents_answers_and_plots` (bench/tests/agent_fanout.rs) with more
# messages and repetitions, keeping the results.
#
#   sudo bench/scripts/agent_fanout_standin.sh [COUNT] [REPETITIONS]     (defaults 5000, 3)
#
# Results: OUT (default results/agent-fanout-<UTC>): the campaign directory with
# subscribers.csv, plots/fanout_64B.svg and the campaign's printed answer.
set -euo pipefail
cd "$(dirname "$0")/../.."
count="${1:-5000}" reps="${2:-3}"
[ "$(id -u)" = 0 ] || { echo "run as root (namespaces, BPF, raw sockets): sudo $0 $*" >&2; exit 1; }
out="${OUT:-results/agent-fanout-$(date -u +%Y%m%dT%H%M%SZ)}"
mkdir -p "$(dirname "$out")"
out="$(cd "$(dirname "$out")" && pwd)/$(basename "$out")"
UADPBENCH_STANDIN_FANOUT_COUNT="$count" UADPBENCH_STANDIN_FANOUT_REPS="$reps" \
UADPBENCH_STANDIN_FANOUT_KEEP="$out" \
  cargo test --release --locked -p uadpbench --test agent_fanout -- --exact \
  a_fanout_campaign_across_agents_answers_and_plots
echo "campaign through the agents: $out (subscribers.csv, plots/fanout_64B.svg, campaign-stdout.txt)"
sed -n '/answer/,$p' "$out/campaign-stdout.txt" | head -40
