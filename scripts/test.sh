#!/usr/bin/env bash
# All of uadpbench's tests: set-up, formatting, lints, unit + integration tests (as root: they
# create network namespaces, load BPF and send packets), and a short fuzz run.
#   scripts/test.sh              full run (what CI runs)
#   FUZZ_SECONDS=0 scripts/test.sh   skip the fuzz run (local iteration)
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh

step() { printf '\n== %s ==\n' "$*"; }

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy --all-targets -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "uadp builds without std (no_std core)"
cargo build -p uadp --no-default-features --locked

step "cargo test (unit, property and integration tests)"
# Namespaces, veths and BPF programs need root; refuse rather than skip.
if [ "$(id -u)" -ne 0 ]; then
  echo "the integration tests create network namespaces and load BPF programs: run as root" >&2
  exit 1
fi
cargo test --workspace --locked --no-fail-fast

step "smoke campaign → report → notebook (headless)"
smoke_dir=$(mktemp -d /tmp/uadpbench-smoke.XXXXXX)
trap 'rm -rf "$smoke_dir"' EXIT
cargo run --locked -q -p uadpbench -- campaign campaigns/smoke.toml --out "$smoke_dir/campaign" 2>&1 \
  | grep -vE '^warning: uadpbench-(sender|probes)@'
target/debug/uadpbench report "$smoke_dir/campaign"
UADPBENCH_RESULTS="$smoke_dir/campaign" jupyter nbconvert --to notebook --execute \
  results/notebooks/analysis.ipynb --output "$smoke_dir/analysis.ipynb" 2>&1 | grep -v 'running over TCP'

step "benchmarks compile"
cargo bench --workspace --locked --no-run

fuzz_seconds="${FUZZ_SECONDS:-20}"
if [ "$fuzz_seconds" != "0" ]; then
  step "fuzz (${fuzz_seconds}s per target; long run: scripts/fuzz.sh 3600)"
  bash scripts/fuzz.sh "$fuzz_seconds"
fi

step "leftovers"
left=$(ip netns list | grep -c '^uadpbench-' || true)
if [ "$left" -ne 0 ]; then
  echo "tests left $left uadpbench network namespace(s) behind:" >&2
  ip netns list >&2
  exit 1
fi
echo "none"
