//! `cargo xtask`: set up a fresh machine, run the demo, the tests and the benchmarks.

mod deb;
mod layers;
mod monitoring;
mod setup;
mod vm;
mod vmboot;
mod vmtest;

use std::{
    path::PathBuf,
    process::{Command, ExitCode},
};

use anyhow::{Context as _, Result, bail};
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "xtask", about = "fwxdp's setup, demo, test and bench commands")]
struct Cli {
    #[command(subcommand)]
    command: Task,
}

#[derive(Subcommand)]
enum Task {
    /// Install what the build and the tests need (idempotent; needs root).
    Setup,
    /// Set up, build, and show fwxdp closing ports in a namespace sandbox.
    Demo,
    /// Set up, then fmt, clippy, the monitoring files, unit tests, the privileged
    /// end-to-end suite, a million frames of differential fuzz, vmtest, and vmboot (which
    /// builds and lints the package and runs the Ansible role).
    Test,
    /// Set up, then build the Debian package (target/debian/) and check it with lintian.
    Deb,
    /// Set up, then check dist/monitoring: promtool on the rules, their tests and the scrape config, and
    /// the dashboard's panels and metric names.
    Monitoring,
    /// Set up, then run the benchmarks.
    Bench {
        /// Sections to run (verdict, limits, blocklist, droplog, scrape, sockets, late,
        /// control, live) [default: all].
        sections: Vec<String>,
    },
    /// Set up, then boot Debian's kernels under qemu and check every attach mode in each.
    Vmtest {
        /// Kernels to boot: 5.10, 6.1, 6.12 [default: all three].
        kernels: Vec<String>,
    },
    /// Set up, then boot Debian 12 with systemd, the shipped unit and config under qemu,
    /// and check the filter from outside the VM.
    Vmboot,
    /// Set up, then judge random and mutated frames with the BPF program and the reference
    /// model, and report every disagreement.
    Fuzz {
        /// Frames to judge.
        #[arg(long, default_value_t = 10_000_000)]
        frames: u64,
        /// The generator's seed [default: from the clock]; printed, to repeat a run.
        #[arg(long)]
        seed: Option<u64>,
    },
}

fn main() -> ExitCode {
    let result = match Cli::parse().command {
        Task::Setup => setup::run(),
        Task::Demo => demo(),
        Task::Test => test(),
        Task::Deb => setup::run().and_then(|()| deb::run().map(drop)),
        Task::Monitoring => setup::run().and_then(|()| monitoring::check()),
        Task::Bench { sections } => bench(&sections),
        Task::Vmtest { kernels } => setup::run().and_then(|()| vmtest::run(&kernels)),
        Task::Vmboot => setup::run().and_then(|()| vmboot::run()),
        Task::Fuzz { frames, seed } => setup::run().and_then(|()| fuzz(frames, seed)),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("xtask: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace")
        .to_owned()
}

fn cargo() -> Command {
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cmd.current_dir(workspace_root());
    cmd
}

/// Runs a step, announcing it, and fails naming it.
fn step(name: &str, mut cmd: Command) -> Result<()> {
    println!("==> {name}");
    let status = cmd
        .status()
        .with_context(|| format!("cannot start {name}: {cmd:?}"))?;
    if !status.success() {
        bail!("{name} failed ({status})");
    }
    Ok(())
}

fn test() -> Result<()> {
    setup::run()?;
    let mut fmt = cargo();
    fmt.args(["fmt", "--all", "--", "--check"]);
    step("cargo fmt --check", fmt)?;
    let mut clippy = cargo();
    clippy.args(["clippy", "--all-targets", "--", "-D", "warnings"]);
    step("cargo clippy -D warnings", clippy)?;
    println!("==> layers of fwxdp/src");
    layers::check(&workspace_root().join("fwxdp/src"))?;
    // The Prometheus rules, their promtool tests, the scrape config and the dashboard.
    monitoring::check()?;
    // The BPF crate builds only for its own target, with nightly.
    let mut clippy_bpf = Command::new("rustup");
    clippy_bpf.current_dir(workspace_root()).args([
        "run",
        "nightly",
        "cargo",
        "clippy",
        "--package",
        "fwxdp-ebpf",
        "--target",
        "bpfel-unknown-none",
        "-Z",
        "build-std=core",
        "--target-dir",
        "target/ebpf-clippy",
        "--",
        "-D",
        "warnings",
    ]);
    step("cargo clippy -D warnings (BPF programs)", clippy_bpf)?;
    // The end-to-end suite runs the fwxdp binary, so build it first.
    let mut build = cargo();
    build.args(["build", "--package", "fwxdp"]);
    step("cargo build -p fwxdp", build)?;
    verify_unit()?;
    let mut unit = cargo();
    unit.args([
        "test",
        "--package",
        "fwxdp",
        "--package",
        "fwxdp-common",
        "--package",
        "xtask",
    ]);
    step("unit tests", unit)?;
    let mut e2e = cargo();
    e2e.args(["test", "--package", "fwxdp-tests"]);
    step(
        "privileged end-to-end suite (namespaces, real packets, TestRun)",
        e2e,
    )?;
    fuzz(1_000_000, None)?;
    // Debian's 5.10, 6.1 and 6.12 kernels under qemu, every attach mode in each.
    vmtest::run(&[])?;
    // A real systemd boot of Debian 12 with the shipped unit and config.
    vmboot::run()
}

/// `systemd-analyze verify` on the unit, with `ExecStart` pointed at the binary just built
/// (verify checks that it exists).
fn verify_unit() -> Result<()> {
    let root = workspace_root();
    let unit = std::fs::read_to_string(root.join("dist/systemd/fwxdp.service"))
        .context("read dist/systemd/fwxdp.service")?;
    let binary = root.join("target/debug/fwxdp");
    let unit = unit.replace("/usr/sbin/fwxdp", &binary.display().to_string());
    let dir = std::env::temp_dir().join(format!("fwxdp-unit-{}", std::process::id()));
    std::fs::create_dir_all(&dir).context("create a directory for the unit")?;
    let path = dir.join("fwxdp.service");
    std::fs::write(&path, unit).context("write the unit")?;
    let mut verify = Command::new("systemd-analyze");
    verify.args(["verify", "--man=no"]).arg(&path);
    let result = step("systemd-analyze verify dist/systemd/fwxdp.service", verify);
    // A temporary directory left behind is harmless; the verdict is what matters.
    let _: std::io::Result<()> = std::fs::remove_dir_all(&dir);
    result
}

/// Builds `fwxdp` and the `fwxdp-tests` binary `tool` in release mode; returns where they
/// are.
fn build_release(tool: &str) -> Result<PathBuf> {
    let mut build = cargo();
    build.args([
        "build",
        "--release",
        "--package",
        "fwxdp",
        "--package",
        "fwxdp-tests",
        "--bin",
        "fwxdp",
        "--bin",
        tool,
    ]);
    step(&format!("cargo build --release (fwxdp, {tool})"), build)?;
    Ok(workspace_root().join("target/release"))
}

fn demo() -> Result<()> {
    setup::run()?;
    let target = build_release("fwxdp-demo")?;
    let mut demo = Command::new(target.join("fwxdp-demo"));
    demo.env("FWXDP_BIN", target.join("fwxdp"));
    step("demo", demo)
}

/// The differential fuzz of the verdict, `frames` frames.
fn fuzz(frames: u64, seed: Option<u64>) -> Result<()> {
    let target = build_release("fwxdp-fuzz")?;
    let mut fuzz = Command::new(target.join("fwxdp-fuzz"));
    fuzz.args(["--frames", &frames.to_string()]);
    if let Some(seed) = seed {
        fuzz.args(["--seed", &seed.to_string()]);
    }
    step(&format!("differential fuzz, {frames} frames"), fuzz)
}

fn bench(sections: &[String]) -> Result<()> {
    setup::run()?;
    // fwxdp too: the bench starts the service in a lab.
    let target = build_release("fwxdp-bench")?;
    let mut bench = Command::new(target.join("fwxdp-bench"));
    bench.args(sections);
    step("benchmarks", bench)
}
