//! Builds the `xdp-ebpf` crate for `bpfel-unknown-none` with `aya-build` (nightly toolchain,
//! `-Z build-std=core`, bpf-linker) and leaves the object at `$OUT_DIR/xdp-ebpf`, where
//! `src/xdp_program.rs` embeds it.
//!
//! With `AYA_BUILD_SKIP=1` the eBPF build is skipped and an empty object is embedded; loading it
//! then fails at run time with a message saying so.

use std::{env, fs, path::PathBuf};

use anyhow::{anyhow, Context as _};

const EBPF_PACKAGE: &str = "xdp-ebpf";

fn main() -> anyhow::Result<()> {
    let manifest_dir =
        PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").context("CARGO_MANIFEST_DIR not set")?);
    let workspace = manifest_dir
        .parent()
        .ok_or_else(|| anyhow!("{} has no parent directory", manifest_dir.display()))?;
    let ebpf_dir = workspace.join(EBPF_PACKAGE);
    let ebpf_dir = ebpf_dir
        .to_str()
        .ok_or_else(|| anyhow!("non-UTF-8 path {}", ebpf_dir.display()))?;
    // aya-build reruns us when the eBPF crate changes; its shared types live in common/.
    println!(
        "cargo:rerun-if-changed={}",
        workspace.join("common").display()
    );

    aya_build::build_ebpf(
        [aya_build::Package {
            name: EBPF_PACKAGE,
            root_dir: ebpf_dir,
            ..Default::default()
        }],
        aya_build::Toolchain::default(),
    )
    .context(
        "building the eBPF object `xdp-ebpf` failed. It needs the nightly toolchain with \
         rust-src and bpf-linker on PATH: run scripts/setup.sh. (AYA_BUILD_SKIP=1 builds \
         without the eBPF object; loading the XDP program then fails at run time.)",
    )?;

    let out = PathBuf::from(env::var_os("OUT_DIR").context("OUT_DIR not set")?).join(EBPF_PACKAGE);
    if !out.exists() {
        fs::write(&out, []).with_context(|| format!("writing {}", out.display()))?;
        println!("cargo:warning=no eBPF object built for {EBPF_PACKAGE}: embedding an empty one");
    }
    Ok(())
}
