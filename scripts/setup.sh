#!/usr/bin/env bash
# uadpbench setup: installs everything a fresh Debian 12 machine lacks to build and test uadpbench.
# Idempotent: every step checks first and skips what is already there.
# Fails with a message that names the missing piece and what to do.
set -euo pipefail

say()  { printf '[setup] %s\n' "$*" >&2; }
fail() { printf '[setup] ERROR: %s\n' "$*" >&2; exit 1; }

# Debian packages:
#  - clang llvm m4 make gcc pkg-config libelf-dev zlib1g-dev libclang-dev libbpf-dev libpcap-dev:
#    what xsk-rs' libxdp-sys needs to build its bundled xdp-tools;
#  - iproute2: `ip netns` / veth for the test topology;
#  - bpftool: inspecting loaded programs in tests and `uadpbench cleanup`;
#  - sockperf, iperf3, bpftrace: the independent instruments we compare against;
#  - tshark-free: pcap files are read by our own code, so no capture tool is required;
#  - chromium: the tests render report.html in a real headless browser.
APT_PACKAGES=(
  build-essential clang llvm m4 make gcc pkg-config libelf-dev zlib1g-dev libclang-dev
  libbpf-dev libpcap-dev iproute2 bpftool sockperf iperf3 bpftrace ethtool procps
  chromium
)

need_root() {
  if [ "$(id -u)" -ne 0 ]; then
    fail "installing $1 needs root; re-run as root (sudo $0)"
  fi
}

install_debian_packages() {
  local missing=()
  for p in "${APT_PACKAGES[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
      missing+=("$p")
    fi
  done
  if [ ${#missing[@]} -eq 0 ]; then
    say "Debian packages: all present"
    return
  fi
  need_root "Debian packages (${missing[*]})"
  command -v apt-get >/dev/null || fail "apt-get not found: install ${missing[*]} with your package manager"
  say "Debian packages: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq || fail "apt-get update failed: check the package mirror configuration"
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
    || fail "apt-get install failed for: ${missing[*]}"
}

check_rustup() {
  command -v rustup >/dev/null || fail "rustup not found: install Rust with rustup (stable + nightly toolchains)"
  rustup run stable rustc --version >/dev/null 2>&1 || fail "the stable toolchain is missing: rustup toolchain install stable"
  if ! rustup run nightly rustc --version >/dev/null 2>&1; then
    say "nightly toolchain missing: installing it"
    rustup toolchain install nightly --profile minimal || fail "could not install the nightly toolchain (needed for the eBPF crates)"
  fi
  for c in rustfmt clippy; do
    if ! rustup component list --toolchain stable --installed | grep -q "^$c"; then
      say "stable: adding $c"
      rustup component add "$c" --toolchain stable || fail "could not add $c to the stable toolchain"
    fi
  done
  if ! rustup component list --toolchain nightly --installed | grep -q '^rust-src'; then
    say "nightly: adding rust-src (build-std for bpfel-unknown-none)"
    rustup component add rust-src --toolchain nightly || fail "could not add rust-src to nightly: rustup component add rust-src --toolchain nightly"
  else
    say "nightly rust-src: present"
  fi
}

# bpf-linker must link against the very LLVM that nightly rustc uses; no prebuilt binary is
# reachable here, so build it against nightly's own libLLVM.so.
install_bpf_linker() {
  local sysroot llvm_so llvm_major stamp_dir stamp want
  sysroot=$(rustup run nightly rustc --print sysroot)
  # The real shared object is libLLVM.so.<ver>-rust-<ver>; libLLVM-<major>-rust-*.so is a linker script.
  llvm_so=$(ls "$sysroot"/lib/libLLVM.so.* 2>/dev/null | head -n 1 || true)
  [ -n "$llvm_so" ] || fail "nightly has no libLLVM.so in $sysroot/lib: cannot build bpf-linker (reinstall nightly)"
  llvm_major=$(rustup run nightly rustc --version --verbose | sed -n 's/^LLVM version: \([0-9]*\).*/\1/p')
  [ -n "$llvm_major" ] || fail "could not read nightly's LLVM version from rustc --version --verbose"
  stamp_dir="${CARGO_HOME:-$HOME/.cargo}/uadpbench-llvm"
  want="$(basename "$llvm_so")"
  if command -v bpf-linker >/dev/null 2>&1 && [ -f "$stamp_dir/stamp" ] && [ "$(cat "$stamp_dir/stamp")" = "$want" ]; then
    say "bpf-linker: present (built against $want)"
    return
  fi
  say "bpf-linker: building against $want (LLVM $llvm_major), about a minute"
  mkdir -p "$stamp_dir/lib"
  ln -sf "$llvm_so" "$stamp_dir/lib/libLLVM.so"
  LLVM_PREFIX="$stamp_dir" rustup run nightly cargo install --locked --force bpf-linker \
      --no-default-features --features "llvm-$llvm_major" >&2 \
    || LLVM_PREFIX="$stamp_dir" rustup run nightly cargo install --force bpf-linker \
      --no-default-features --features "llvm-$llvm_major" >&2 \
    || fail "building bpf-linker failed (see above); it needs nightly's libLLVM ($llvm_so)"
  echo "$want" > "$stamp_dir/stamp"
}

install_cargo_fuzz() {
  if command -v cargo-fuzz >/dev/null 2>&1; then
    say "cargo-fuzz: present"
    return
  fi
  say "cargo-fuzz: installing from crates.io"
  cargo install --locked cargo-fuzz >&2 || cargo install cargo-fuzz >&2 \
    || fail "installing cargo-fuzz failed (see above): cargo install cargo-fuzz"
}

install_python_packages() {
  # pandas + matplotlib: scripts/plot_run.py and the analysis notebook; nbconvert + ipykernel
  # execute the notebook headless in the tests.
  if python3 -c "import pandas, matplotlib, nbconvert, ipykernel" >/dev/null 2>&1; then
    say "python pandas/matplotlib/nbconvert/ipykernel: present"
    return
  fi
  command -v python3 >/dev/null || fail "python3 is missing: apt-get install python3 python3-pip"
  say "python: installing pandas, matplotlib, nbconvert and ipykernel from PyPI"
  python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore \
      pandas matplotlib nbconvert ipykernel >&2 \
    || fail "pip install pandas matplotlib nbconvert ipykernel failed (see above)"
}

# asyncua (opcua-asyncio, pure Python): the third-party OPC UA PubSub stack that
# bench/tests/asyncua_interop.rs runs against `uadpbench publish` / `subscribe`. Pinned: the
# tests and docs/interop.md describe exactly this release.
ASYNCUA_VERSION=2.1.0
install_asyncua() {
  command -v python3 >/dev/null || fail "python3 is missing: apt-get install python3 python3-pip"
  if python3 -c "import importlib.metadata as m, sys, asyncua.pubsub; sys.exit(m.version('asyncua') != '$ASYNCUA_VERSION')" >/dev/null 2>&1; then
    say "python asyncua $ASYNCUA_VERSION: present"
    return
  fi
  say "python: installing asyncua==$ASYNCUA_VERSION from PyPI"
  python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore \
      "asyncua==$ASYNCUA_VERSION" >&2 \
    || fail "pip install asyncua==$ASYNCUA_VERSION failed (see above)"
}

# Classic tracepoints need tracefs; some machines boot without it mounted.
mount_tracefs() {
  if [ -e /sys/kernel/tracing/events ] || [ -e /sys/kernel/debug/tracing/events ]; then
    say "tracefs: mounted"
    return
  fi
  if [ "$(id -u)" -ne 0 ]; then
    say "warning: tracefs is not mounted and mounting it needs root; tracepoint probes will be unavailable"
    return
  fi
  mount -t tracefs nodev /sys/kernel/tracing 2>/dev/null \
    || say "warning: could not mount tracefs at /sys/kernel/tracing; tracepoint probes will be unavailable"
}

check_kernel() {
  [ -e /sys/kernel/btf/vmlinux ] || say "warning: no /sys/kernel/btf/vmlinux: BTF tracepoints will be unavailable"
  command -v ip >/dev/null || fail "the ip command (iproute2) is missing"
}

install_debian_packages
check_rustup
install_bpf_linker
install_cargo_fuzz
install_python_packages
install_asyncua
mount_tracefs
check_kernel
say "ready"
