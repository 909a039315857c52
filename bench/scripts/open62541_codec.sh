#!/usr/bin/env bash
# open62541's UADP codec cost for the rows of docs/performance.md's codec table, measured by
# bench/peers/open62541/codec_bench.c against a locally built open62541 (static library,
# Release, PubSub on). Run it next to (interleaved with) uadp's criterion benchmarks:
#
#   bench/scripts/open62541_codec.sh OPEN62541_SRC [BUILD_DIR]
#   taskset -c 1 cargo bench -p uadp --bench codec -- \
#     'uadp_64B/general_encode$|uadp_1400B/general_encode$|uadp_64B/.*decode.*values|uadp_1400B/.*decode.*values' \
#     --warm-up-time 1 --measurement-time 3 --noplot
#
# This script fetches nothing. Get the source first (the comparison used v1.4.19, commit
# 475716712854cf8579b3b9caf4d0cafd8c02372b; the git submodules are not needed for this build):
#
#   git clone --depth 1 --branch v1.4.19 https://github.com/open62541/open62541 /tmp/open62541-src
#   (or: curl -L https://github.com/open62541/open62541/archive/refs/tags/v1.4.19.tar.gz | tar -xz)
#
# BUILD_DIR (default /tmp/open62541-codec-build) receives the CMake build of open62541 (lib/)
# and the bench binary; an existing build is reused. Needs cmake, a C compiler, python3.
# Environment: CPU (pinned CPU, default 1), REPS (repetitions, default 5), ITERS (iterations per
# repetition, default 1000000, after ITERS/5 warm-up iterations), BATCH (iterations per timed
# batch, default 1000; each repetition prints the median batch), JOBS (build jobs, default 2).
#
# What each row does per iteration is described at the top of codec_bench.c. Before timing,
# the bench checks that open62541 encodes both messages byte for byte as uadp's codec
# benchmark does and that decoding gives back the headers and the values' checksum; with a
# built uadpbench in target/, the script also prints uadpbench's decoding of open62541's bytes.
set -euo pipefail
here="$(cd "$(dirname "$0")/../.." && pwd)"
src="${1:?usage: $0 OPEN62541_SRC [BUILD_DIR]  (see the header of this script for how to get the source)}"
build="${2:-/tmp/open62541-codec-build}"
cpu="${CPU:-1}"
reps="${REPS:-5}"
iters="${ITERS:-1000000}"
batch="${BATCH:-1000}"
jobs="${JOBS:-2}"
src="$(cd "$src" && pwd)"
[ -f "$src/src/pubsub/ua_pubsub_networkmessage.h" ] || {
    echo "$src does not look like an open62541 1.4 source tree" >&2
    exit 1
}
mkdir -p "$build"

# open62541: Release (-O3, LTO as its CMake sets it), static, PubSub on; what the codec does not
# need (information model twin, discovery, examples, tests) off.
if [ ! -f "$build/lib/CMakeCache.txt" ]; then
    cmake -S "$src" -B "$build/lib" -DCMAKE_BUILD_TYPE=Release -DBUILD_SHARED_LIBS=OFF \
        -DUA_ENABLE_PUBSUB=ON -DUA_ENABLE_PUBSUB_INFORMATIONMODEL=OFF -DUA_ENABLE_DISCOVERY=OFF \
        -DUA_BUILD_EXAMPLES=OFF -DUA_BUILD_UNIT_TESTS=OFF >"$build/cmake-configure.log"
fi
cmake --build "$build/lib" -j"$jobs" >"$build/cmake-build.log"

# The bench uses open62541's internal codec API (src/pubsub/ua_pubsub_networkmessage.h,
# UA_decodeBinaryInternal), as open62541's own tests do, so it links the static library.
${CC:-cc} -O2 -std=gnu11 -o "$build/codec_bench" "$here/bench/peers/open62541/codec_bench.c" \
    -I "$build/lib/src_generated" -I "$src/include" -I "$src/arch" -I "$src/src" \
    -I "$src/src/pubsub" -I "$src/deps" -I "$src/plugins/include" \
    "$build/lib/bin/libopen62541.a" -lm -lpthread

# Same bytes as uadp: checked inside the bench; uadpbench's view of the 64 B message if built.
"$build/codec_bench" --hex
uadpbench=""
for b in "$here/target/release/uadpbench" "$here/target/debug/uadpbench"; do
    [ -x "$b" ] && { uadpbench="$b"; break; }
done
if [ -n "$uadpbench" ]; then
    hex64="$("$build/codec_bench" --hex | awk '$1 == "open62541" && $2 == "64B:" {print $3}')"
    echo "uadpbench decode of open62541's 64 B message:"
    "$uadpbench" decode --hex "$hex64" --raw-layout UInt64,UInt64,UInt64,UInt64,UInt64,UInt32
fi

echo "load average before the run: $(cat /proc/loadavg)"
taskset -c "$cpu" "$build/codec_bench" --reps "$reps" --iters "$iters" --batch "$batch"
