//! The build-script half of uadpbench's two eBPF objects: `sender/build.rs` builds `xdp-ebpf`
//! and `probes/build.rs` builds `probes-ebpf`, both through [`build`].
//!
//! The eBPF crate is compiled for `bpfel-unknown-none` with `aya-build` (nightly toolchain,
//! `-Z build-std=core`, bpf-linker) and the object is left at `$OUT_DIR/<package>`, where the
//! calling crate embeds it (`include_bytes_aligned!`). With `AYA_BUILD_SKIP=1` the eBPF build
//! is skipped and an empty object is written; loading it then fails at run time with a message
//! saying so.

use std::{env, fs, path::PathBuf};

use anyhow::{anyhow, Context as _};

/// Builds the workspace's eBPF crate `package` (a sibling directory of the calling crate) and
/// makes sure `$OUT_DIR/<package>` exists. `loaded_as` names what fails at run time without
/// the object (for the error message), e.g. "the XDP program".
pub fn build(package: &str, loaded_as: &str) -> anyhow::Result<()> {
    let manifest_dir =
        PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").context("CARGO_MANIFEST_DIR not set")?);
    let workspace = manifest_dir
        .parent()
        .ok_or_else(|| anyhow!("{} has no parent directory", manifest_dir.display()))?;
    let ebpf_dir = workspace.join(package);
    let ebpf_dir = ebpf_dir
        .to_str()
        .ok_or_else(|| anyhow!("non-UTF-8 path {}", ebpf_dir.display()))?;
    // aya-build reruns the build script when the eBPF crate changes; its shared types live in
    // common/.
    println!(
        "cargo:rerun-if-changed={}",
        workspace.join("common").display()
    );

    aya_build::build_ebpf(
        [aya_build::Package {
            name: package,
            root_dir: ebpf_dir,
            ..Default::default()
        }],
        aya_build::Toolchain::default(),
    )
    .with_context(|| {
        format!(
            "building the eBPF object `{package}` failed. It needs the nightly toolchain with \
             rust-src and bpf-linker on PATH: run scripts/setup.sh. (AYA_BUILD_SKIP=1 builds \
             without the eBPF object; loading {loaded_as} then fails at run time.)"
        )
    })?;

    let out = PathBuf::from(env::var_os("OUT_DIR").context("OUT_DIR not set")?).join(package);
    if !out.exists() {
        fs::write(&out, []).with_context(|| format!("writing {}", out.display()))?;
        println!("cargo:warning=no eBPF object built for {package}: embedding an empty one");
    }
    Ok(())
}
