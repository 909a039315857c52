#!/usr/bin/env bash
# Runs the cargo-fuzz targets, seeded with the open62541 conformance vectors.
#   scripts/fuzz.sh [SECONDS_PER_TARGET]     (default 20; a long run: scripts/fuzz.sh 3600)
# A crash leaves its input in fuzz/artifacts/TARGET/: turn it into a regression test
# (uadp/tests/ or the target's own unit tests) before fixing it.
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-20}"
command -v cargo-fuzz >/dev/null || { echo "cargo-fuzz missing: run scripts/setup.sh" >&2; exit 1; }

seed_dir=fuzz/corpus/decode_network_message
mkdir -p "$seed_dir"
# Seeds: a layout-selector byte (4: four fields) followed by each conformance vector.
python3 - "$seed_dir" <<'PY'
import sys, pathlib
out = pathlib.Path(sys.argv[1])
for line in open("uadp/tests/vectors/open62541-v1.5.7.txt"):
    parts = line.rstrip("\n").split("\t")
    if len(parts) >= 2 and parts[0][:1] in ("V", "N"):
        (out / parts[0]).write_bytes(b"\x04" + bytes.fromhex(parts[1]))
PY

log=$(mktemp)
trap 'rm -f "$log"' EXIT
for target in $(cargo +nightly fuzz list); do
  echo "[fuzz] $target for ${secs}s"
  mkdir -p "fuzz/corpus/$target"
  if ! cargo +nightly fuzz run "$target" "fuzz/corpus/$target" -- -max_total_time="$secs" -rss_limit_mb=2048 >"$log" 2>&1; then
    tail -n 60 "$log" >&2
    echo "[fuzz] $target failed: the input is in fuzz/artifacts/$target/" >&2
    exit 1
  fi
  grep -E '^(Done|#[0-9]+ +DONE)' "$log" | tail -n 1 || true
done
echo "[fuzz] no crash"
