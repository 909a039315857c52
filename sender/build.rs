//! Builds the `xdp-ebpf` crate and leaves the object at `$OUT_DIR/xdp-ebpf`, where
//! `src/xdp_program.rs` embeds it (see `uadpbench-ebpf-build`; `AYA_BUILD_SKIP=1` embeds an
//! empty one).

fn main() -> anyhow::Result<()> {
    uadpbench_ebpf_build::build("xdp-ebpf", "the XDP program")
}
