//! Builds the `probes-ebpf` crate and leaves the object at `$OUT_DIR/probes-ebpf`, where
//! `src/lib.rs` embeds it (see `uadpbench-ebpf-build`; `AYA_BUILD_SKIP=1` embeds an empty one).

fn main() -> anyhow::Result<()> {
    uadpbench_ebpf_build::build("probes-ebpf", "the probes")
}
