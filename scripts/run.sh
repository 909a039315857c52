#!/usr/bin/env bash
# The main job: set up the machine, build uadpbench (release) and run the default campaign
# over a fresh two-namespace veth topology. Results go under results/; each run prints
# where its files are and how to plot them.
#   scripts/run.sh                  the default campaign (campaigns/default.toml)
#   scripts/run.sh ARGS...          any uadpbench command instead, e.g.
#                                   scripts/run.sh run --path udp --mode flood --duration 5
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh
cargo build --release --locked -p uadpbench 2>&1 | grep -vE '^warning: uadpbench-(sender|probes)@' >&2 || true
bin=target/release/uadpbench
[ -x "$bin" ] || { echo "build failed: run cargo build --release -p uadpbench to see why" >&2; exit 1; }

if [ "$#" -gt 0 ]; then
  exec "$bin" "$@"
fi

exec "$bin" campaign campaigns/default.toml
