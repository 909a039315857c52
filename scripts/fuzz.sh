#!/usr/bin/env bash
# Runs the cargo-fuzz targets, seeded with the open62541 conformance vectors.
#   scripts/fuzz.sh [SECONDS_PER_TARGET]     (default 20; a long run: scripts/fuzz.sh 3600)
# A crash leaves its input in fuzz/artifacts/TARGET/: turn it into a regression test
# (uadp/tests/ or the target's own unit tests) before fixing it.
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-20}"
# The fuzz targets link the sender crate, whose build script would build the eBPF objects:
# they are not needed to fuzz parsers, so skip that build (an empty object is embedded).
export AYA_BUILD_SKIP=1
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

# parse_frame seeds: a UADP-in-Ethernet frame and a UADP-in-UDP/IPv4 frame from the peer, and
# IEEE 802.3 length-field frames with LLC/SNAP and with bare UADP (open62541 v1.4's capture).
mkdir -p fuzz/corpus/parse_frame
python3 - <<'PY'
import pathlib, struct
v2 = bytes.fromhex("f101ba08016400014df4e11000c08976453cda01010000000200000004000d00c08976453cda0106d6ffffff08cb04fb711f0100000101")
dst, src = bytes.fromhex("027562000002"), bytes.fromhex("027562000001")
eth = dst + src + b"\xb6\x2c" + v2
def csum(b):
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16: s = (s & 0xffff) + (s >> 16)
    return (~s) & 0xffff
udp = struct.pack("!HHHH", 4840, 4840, 8 + len(v2), 0) + v2
ip = bytearray(struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0x4000, 64, 17, 0, bytes([198, 18, 0, 1]), bytes([198, 18, 0, 2])))
ip[10:12] = struct.pack("!H", csum(bytes(ip)))
ipv4 = dst + src + b"\x08\x00" + bytes(ip) + udp
out = pathlib.Path("fuzz/corpus/parse_frame")
(out / "eth").write_bytes(eth)
(out / "udp").write_bytes(ipv4)
(out / "vlan").write_bytes(dst + src + b"\x81\x00\x60\x05\xb6\x2c" + v2)
llc_snap = bytes.fromhex("aaaa03000000b62c")
(out / "ieee8023-llc-snap").write_bytes(dst + src + struct.pack("!H", len(llc_snap) + len(v2)) + llc_snap + v2)
(out / "ieee8023-bare").write_bytes(dst + src + struct.pack("!H", len(v2)) + v2)
(out / "open62541-ieee8023-bare").write_bytes(bytes.fromhex(
    "01005e7f000162eac941d008003b"
    "f101ba080964000000014df4e9100000a8bbac9d3b82dd01080a3d7836093d7804000dc6bbac9d3b82dd01"
    "06000000000800000000000000000101"))
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
