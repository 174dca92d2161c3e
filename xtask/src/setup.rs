//! `cargo xtask setup`: everything a fresh machine of this kind lacks, installed once.

use std::process::Command;

use anyhow::{Context as _, Result, bail};

/// Debian packages: LLVM for bpf-linker, and the tools the tests drive.
const PACKAGES: &[&str] = &[
    "llvm-22-dev",
    "libpolly-22-dev",
    "iproute2",
    "iptables",
    "nftables",
    "util-linux",
    "tcpdump",
    // The crash tests kill fwxdp at chosen system calls (fault injection).
    "strace",
    "curl",
    "prometheus",
    // The blocklist's test drives a real fail2ban through dist/fail2ban/action.d/fwxdp.conf.
    "fail2ban",
    // `fwxdp audit` is checked against what an nmap scan from outside finds open.
    "nmap",
    "systemd",
    // cargo xtask vmtest: Debian's kernels under qemu, booted from a busybox initramfs.
    "qemu-system-x86",
    "busybox-static",
    "cpio",
    "xz-utils",
    // cargo xtask vmboot: a Debian 12 root file system, its disk image, and edits to it.
    "debootstrap",
    "e2fsprogs",
    // cargo xtask bench's live mode: xdp-filter is a reference dropper, ethtool turns on
    // GRO (and so NAPI) on the receiving veth, iperf3 drives the egress bench.
    "xdp-tools",
    "ethtool",
    "iperf3",
    // The generated man pages are rendered by `man` in the tests; `cargo xtask deb` builds the
    // package with cargo-deb and checks it with lintian.
    "man-db",
    "lintian",
    // vmboot runs dist/ansible's role against the VM over SSH.
    "ansible-core",
    "openssh-client",
];

const LLVM_PREFIX: &str = "/usr/lib/llvm-22";
const BPF_LINKER_VERSION: &str = "0.13";
/// `cargo xtask deb` builds the package with it.
const CARGO_DEB_VERSION: &str = "3.8";

pub(crate) fn run() -> Result<()> {
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        bail!("setup installs packages and the tests load BPF programs: run as root");
    }
    println!("==> setup");
    apt_packages()?;
    rust_src()?;
    bpf_linker()?;
    cargo_deb()?;
    Ok(())
}

fn output(cmd: &mut Command) -> Result<String> {
    let out = cmd
        .output()
        .with_context(|| format!("cannot run {cmd:?}"))?;
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn run_ok(what: &str, cmd: &mut Command) -> Result<()> {
    let status = cmd
        .status()
        .with_context(|| format!("cannot run {cmd:?}"))?;
    if !status.success() {
        bail!("{what} failed ({status}): {cmd:?}");
    }
    Ok(())
}

fn installed(package: &str) -> bool {
    Command::new("dpkg-query")
        .args(["-W", "-f=${Status}", package])
        .output()
        .is_ok_and(|o| o.status.success() && o.stdout.starts_with(b"install ok installed"))
}

fn apt_packages() -> Result<()> {
    let missing: Vec<&str> = PACKAGES.iter().copied().filter(|p| !installed(p)).collect();
    if missing.is_empty() {
        println!("    apt: {} present", PACKAGES.join(", "));
        return Ok(());
    }
    println!("    apt: installing {}", missing.join(", "));
    run_ok(
        "apt-get update",
        Command::new("apt-get").args(["update", "-q"]),
    )?;
    run_ok(
        "apt-get install",
        Command::new("apt-get")
            .env("DEBIAN_FRONTEND", "noninteractive")
            .args(["install", "-y", "-q", "--no-install-recommends"])
            .args(&missing),
    )
}

fn rust_src() -> Result<()> {
    let toolchains = output(Command::new("rustup").args(["toolchain", "list"]))?;
    if !toolchains.lines().any(|l| l.starts_with("nightly")) {
        bail!("no nightly toolchain: the BPF programs build with nightly and -Z build-std");
    }
    let components = output(Command::new("rustup").args([
        "component",
        "list",
        "--installed",
        "--toolchain",
        "nightly",
    ]))?;
    if components.lines().any(|l| l.starts_with("rust-src")) {
        println!("    rust-src (nightly): present");
        return Ok(());
    }
    println!("    rust-src (nightly): installing");
    run_ok(
        "rustup component add",
        Command::new("rustup").args(["component", "add", "rust-src", "--toolchain", "nightly"]),
    )
}

/// Whether `tool --version` names a release of `version` (`0.13` for 0.13.x); says so.
fn present(tool: &str, version: &str) -> bool {
    let said = Command::new(tool)
        .arg("--version")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    let present = said.contains(&format!(" {version}."));
    if present {
        println!("    {tool}: {} present", said.trim());
    }
    present
}

fn bpf_linker() -> Result<()> {
    if present("bpf-linker", BPF_LINKER_VERSION) {
        return Ok(());
    }
    println!("    bpf-linker {BPF_LINKER_VERSION}: building against LLVM 22 (a few minutes)");
    run_ok(
        "cargo install bpf-linker",
        Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            // bpf-linker's build script reads LLVM_PREFIX; llvm-sys reads the other.
            .env("LLVM_PREFIX", LLVM_PREFIX)
            .env("LLVM_SYS_221_PREFIX", LLVM_PREFIX)
            .args([
                "install",
                "bpf-linker",
                "--version",
                &format!("~{BPF_LINKER_VERSION}"),
                "--no-default-features",
                "--features",
                "llvm-22",
            ]),
    )
}

fn cargo_deb() -> Result<()> {
    if present("cargo-deb", CARGO_DEB_VERSION) {
        return Ok(());
    }
    println!("    cargo-deb {CARGO_DEB_VERSION}: building it (a minute or two)");
    run_ok(
        "cargo install cargo-deb",
        Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into())).args([
            "install",
            "cargo-deb",
            "--locked",
            "--version",
            &format!("~{CARGO_DEB_VERSION}"),
        ]),
    )
}
