#!/usr/bin/env bash
# The main job: set up the machine, build uadpbench (release) and run the default measurement
# set over a fresh two-namespace veth topology. Results go under results/; each run prints
# where its files are and how to plot them.
#   scripts/run.sh                  the default set
#   scripts/run.sh run ARGS...      any uadpbench command instead (e.g. run --path udp --mode flood --duration 5)
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh
cargo build --release --locked -p uadpbench 2>&1 | grep -vE '^warning: uadpbench-(sender|probes)@' >&2 || true
bin=target/release/uadpbench
[ -x "$bin" ] || { echo "build failed: run cargo build --release -p uadpbench to see why" >&2; exit 1; }

if [ "$#" -gt 0 ]; then
  exec "$bin" "$@"
fi

# The default set, until campaign files exist: each path's ping-pong round trip and a 1 ms
# cyclic publisher, 64-byte UADP messages.
for path in udp; do
  "$bin" run --path "$path" --mode pingpong --count 10000 --warmup 1000 --payload 64
  "$bin" run --path "$path" --mode cyclic --count 5000 --warmup 100 --interval-us 1000 --payload 64
done
