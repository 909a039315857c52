#!/usr/bin/env bash
# Re-measures every figure of README.md and docs/performance.md in one go, under the default
# controlled conditions, so that they can be reproduced and compared:
#   1. repeatability: 4 interleaved rounds of plain `run --mode pingpong` per path, cross-cpu
#      and same-cpu (bench/scripts/repeatability.sh), and the same without the controls
#      (--placement none --idle-latency-us off) to show what they prevent;
#   2. side by side with sockperf / iperf3 / bpftrace, both placements (side_by_side.sh);
#   3. the layer breakdown of each path (`run --probes all`, 10 000 round trips);
#   4. the default campaign (campaigns/default.toml) and its report (verdict, report.html).
#   sudo bench/scripts/readme_figures.sh            → results/readme-<UTC time>/
# Takes about 15 minutes on a 2-vCPU VM. Run it on an otherwise idle machine.
set -euo pipefail
cd "$(dirname "$0")/../.."
[ "$(id -u)" = 0 ] || { echo "run as root: sudo $0" >&2; exit 1; }
cargo build --release -p uadpbench >&2
bin=target/release/uadpbench
out="${OUT:-results/readme-$(date -u +%Y%m%dT%H%M%SZ)}"
mkdir -p "$out"
echo "== 1. repeatability ==" | tee "$out/figures.txt"
OUT="$out/repeatability" bench/scripts/repeatability.sh 4 | tee -a "$out/figures.txt"
OUT="$out/repeatability-uncontrolled" PLACEMENTS=none EXTRA="--idle-latency-us off" \
  bench/scripts/repeatability.sh 4 | tee -a "$out/figures.txt"
echo "== 2. side by side ==" | tee -a "$out/figures.txt"
for p in cross-cpu same-cpu; do
  OUT="$out/side-by-side-$p" PLACEMENT=$p bench/scripts/side_by_side.sh 3 >/dev/null 2>&1 \
    || { echo "side_by_side.sh ($p) failed: see $out/side-by-side-$p" >&2; exit 1; }
  cat "$out/side-by-side-$p/side_by_side.txt" | tee -a "$out/figures.txt"
done
echo "== 3. layer breakdown ==" | tee -a "$out/figures.txt"
for p in udp eth xdp; do
  "$bin" run --path "$p" --count 10000 --warmup 1000 --probes all --out "$out/layers-$p" \
    | tee -a "$out/figures.txt"
done
echo "== 4. default campaign ==" | tee -a "$out/figures.txt"
"$bin" campaign campaigns/default.toml --out "$out/default" 2>/dev/null | tee -a "$out/figures.txt"
"$bin" report "$out/default" >/dev/null
echo "figures: $out/figures.txt; report: $out/default/report.html"
