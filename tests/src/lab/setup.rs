//! What a lab needs from the machine: privileges, the fwxdp binary under test, and no
//! leftovers from labs of test runs that died.

use std::{
    fs,
    path::{Path, PathBuf},
    process::Command,
    sync::OnceLock,
};

use super::PREFIX;

/// Fails the test, with a message that says why, unless it can run privileged.
///
/// # Panics
/// When not root or when the kernel has no BPF. Never skips: the suite runs as root in CI.
pub fn require_privileges() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "this end-to-end test needs root (network namespaces and BPF): run `sudo cargo xtask test`"
    );
    assert!(
        Path::new("/proc/sys/kernel/unprivileged_bpf_disabled").exists(),
        "this kernel has no bpf(2) support (CONFIG_BPF_SYSCALL): fwxdp cannot run here"
    );
}

/// The fwxdp binary under test: `$FWXDP_BIN`, or the one cargo built beside this test.
///
/// # Panics
/// When there is none.
#[must_use]
pub fn fwxdp_bin() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let bin = find_fwxdp_bin();
        assert_not_stale(&bin);
        bin
    })
    .clone()
}

fn find_fwxdp_bin() -> PathBuf {
    if let Some(bin) = std::env::var_os("FWXDP_BIN") {
        return bin.into();
    }
    let exe = std::env::current_exe().expect("current_exe");
    // Tests run from target/<profile>/deps/, binaries from target/<profile>/.
    let candidates: Vec<PathBuf> = exe
        .ancestors()
        .skip(1)
        .take(2)
        .map(|dir| dir.join("fwxdp"))
        .collect();
    candidates
        .iter()
        .find(|bin| bin.is_file())
        .cloned()
        .unwrap_or_else(|| {
            panic!(
                "no fwxdp binary in {candidates:?}: build it first (`cargo build -p fwxdp`; \
                 cargo xtask test does), or set FWXDP_BIN"
            )
        })
}

/// fwxdp built as the next pin layout (`FWXDP_TEST_NEXT_LAYOUT`: the same programs, on maps
/// of a layout of its own), to test upgrades across a layout change. Built on first use, in a
/// target directory of its own, so that the two builds do not rebuild each other; cargo
/// builds only what changed since the last run.
///
/// # Panics
/// When the build fails.
#[must_use]
pub fn next_layout_bin() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .expect("the workspace holds the tests crate");
        let target = workspace.join("target/next-layout");
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let status = Command::new(cargo)
            .current_dir(workspace)
            .args([
                "build",
                "--package",
                "fwxdp",
                "--bin",
                "fwxdp",
                "--target-dir",
            ])
            .arg(&target)
            .env("FWXDP_TEST_NEXT_LAYOUT", "1")
            .status()
            .expect("run cargo");
        assert!(
            status.success(),
            "cannot build fwxdp as the next pin layout ({status})"
        );
        target.join("debug/fwxdp")
    })
    .clone()
}

/// `cargo test -p fwxdp-tests` rebuilds the fwxdp library but not its binary: refuse to test
/// a binary that carries other BPF programs than the library this test was built with.
fn assert_not_stale(bin: &Path) {
    let output = Command::new(bin)
        .arg("--version")
        .output()
        .unwrap_or_else(|e| panic!("run {} --version: {e}", bin.display()));
    let version = String::from_utf8_lossy(&output.stdout);
    assert!(
        version.contains(fwxdp::attach::OBJECT_DIGEST),
        "{} ({}) is not the build under test (bpf {}): rebuild it with `cargo build -p fwxdp` \
         (cargo xtask test does)",
        bin.display(),
        version.trim(),
        fwxdp::attach::OBJECT_DIGEST
    );
}

/// Removes namespaces and pin roots left by lab processes that no longer run.
pub fn sweep_stale() {
    let stale = |name: &str| {
        name.strip_prefix(PREFIX)
            .and_then(|rest| rest.split('-').next())
            .and_then(|pid| pid.parse::<u32>().ok())
            .is_some_and(|pid| !Path::new(&format!("/proc/{pid}")).exists())
    };
    for entry in fs::read_dir("/run/netns").into_iter().flatten().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if stale(&name) {
            let _: std::io::Result<std::process::Output> =
                Command::new("ip").args(["netns", "del", &name]).output();
        }
    }
    for entry in fs::read_dir("/sys/fs/bpf").into_iter().flatten().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if stale(&name) {
            // Removing the pins releases the links, which detaches their programs.
            let _: std::io::Result<()> = fs::remove_dir_all(entry.path());
        }
    }
}
