//! Builds the BPF programs in ../fwxdp-ebpf with aya-build; src/object.rs embeds the result.

use anyhow::{Context as _, anyhow};

fn main() -> anyhow::Result<()> {
    let manifest_dir = std::env::var("CARGO_MANIFEST_DIR").context("CARGO_MANIFEST_DIR")?;
    let root = std::path::Path::new(&manifest_dir)
        .parent()
        .ok_or_else(|| anyhow!("{manifest_dir} has no parent"))?
        .join("fwxdp-ebpf");
    let root = root
        .to_str()
        .ok_or_else(|| anyhow!("non-UTF-8 path {}", root.display()))?;
    println!("cargo:rerun-if-changed=../fwxdp-common/src");
    aya_build::build_ebpf(
        [aya_build::Package {
            name: "fwxdp-ebpf",
            root_dir: root,
            ..Default::default()
        }],
        aya_build::Toolchain::default(),
    )?;
    // A digest of the object, shown by `fwxdp --version`, tells which programs a binary
    // carries (and lets the test suite refuse a stale binary).
    let out_dir = std::env::var("OUT_DIR").context("OUT_DIR")?;
    let object = std::fs::read(std::path::Path::new(&out_dir).join("fwxdp"))
        .context("read the built BPF object")?;
    println!("cargo:rustc-env=FWXDP_BPF_DIGEST={:016x}", fnv1a(&object));
    Ok(())
}

/// FNV-1a, 64 bits: enough to tell two builds apart, not a security hash.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3)
    })
}
