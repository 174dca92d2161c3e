//! `cargo xtask vmtest [KERNEL...]`: Debian's own kernels booted under qemu (`-accel tcg`),
//! each running `fwxdp-vmcheck` in every attach mode from a busybox initramfs.
//!
//! Kernel packages come from the machine's own Debian mirror, through an apt configuration
//! of their own under [`CACHE`] (the machine's sources are left alone), and stay cached
//! there, outside the repository.

mod initramfs;
mod kernels;

use std::{
    path::Path,
    sync::mpsc,
    time::{Duration, Instant},
};

use anyhow::{Context as _, Result, bail};

use crate::vm::{
    debian::CACHE,
    qemu::{self, Tail},
};
use initramfs::initramfs;
use kernels::{Apt, KERNELS, Kernel};

/// The most one VM may take, boot to power-off (about a minute is usual, but emulation on a
/// loaded host has taken over five for a VM whose every step passed); a VM that takes
/// longer is tried once more, then counted as failed.
const VM_TIMEOUT: Duration = Duration::from_mins(10);

pub(crate) fn run(names: &[String]) -> Result<()> {
    let kernels: Vec<&Kernel> = if names.is_empty() {
        KERNELS.iter().collect()
    } else {
        names
            .iter()
            .map(|name| {
                KERNELS
                    .iter()
                    .find(|k| k.name == name)
                    .with_context(|| format!("unknown kernel {name:?} (5.10, 6.1 or 6.12)"))
            })
            .collect::<Result<_>>()?
    };
    let binaries = initramfs::build()?;
    let cache = Path::new(CACHE);
    let apt = Apt::new(cache)?;
    let mut failures = Vec::new();
    let mut times = Vec::new();
    for kernel in kernels {
        let started = Instant::now();
        println!("==> vmtest: Linux {} ({})", kernel.name, kernel.suite);
        let result = apt
            .kernel(kernel)
            .and_then(|image| initramfs(cache, &image, &binaries).map(|initrd| (image, initrd)))
            .and_then(|(image, initrd)| match boot(&image.vmlinuz, &initrd) {
                Err(Boot::TimedOut) => {
                    println!("    the VM timed out; booting it once more");
                    boot(&image.vmlinuz, &initrd).map_err(Boot::into_error)
                }
                // Seen once on 6.12 under heavy load on the host: the guest went away in the
                // middle of a check. Its console is printed; a second boot must pass whole.
                Err(Boot::EndedEarly(error)) => {
                    println!("    {error:#}\n    the VM ended early; booting it once more");
                    boot(&image.vmlinuz, &initrd).map_err(Boot::into_error)
                }
                other => other.map_err(Boot::into_error),
            });
        let seconds = started.elapsed().as_secs();
        times.push(format!("{} {seconds} s", kernel.name));
        if let Err(error) = result {
            println!("vmtest: Linux {}: FAIL: {error:#}", kernel.name);
            failures.push(kernel.name);
        }
    }
    println!("vmtest times: {}", times.join(", "));
    if !failures.is_empty() {
        bail!("vmtest failed on Linux {}", failures.join(", "));
    }
    Ok(())
}

/// Why a boot did not pass.
enum Boot {
    /// The VM did not power off in time.
    TimedOut,
    /// The console ended before the checks did (the guest panicked or reset).
    EndedEarly(anyhow::Error),
    /// It ran and a check failed, or it could not run.
    Failed(anyhow::Error),
}

impl Boot {
    fn into_error(self) -> anyhow::Error {
        match self {
            Self::TimedOut => {
                anyhow::anyhow!("the VM did not finish within {} s", VM_TIMEOUT.as_secs())
            }
            Self::Failed(error) | Self::EndedEarly(error) => error,
        }
    }
}

impl From<anyhow::Error> for Boot {
    fn from(error: anyhow::Error) -> Self {
        Self::Failed(error)
    }
}

/// Boots the kernel with the initramfs and judges the verdict lines on its console.
fn boot(vmlinuz: &Path, initrd: &Path) -> Result<(), Boot> {
    let mut qemu = qemu::command(
        vmlinuz,
        initrd,
        "console=ttyS0 panic=-1 quiet loglevel=3 random.trust_cpu=on",
    );
    qemu.args(["-nic", "none"]);
    let vm = qemu::start(qemu)?;
    let deadline = Instant::now() + VM_TIMEOUT;
    let (mut passed, mut failed, mut exit) = (0, 0, None);
    // The console's last lines, to show when the checks never finish.
    let mut tail = Tail::default();
    loop {
        match vm.line(deadline) {
            Ok(line) => {
                tail.push(line.clone());
                if let Some(step) = line.find("vmstep: ").map(|at| &line[at..]) {
                    println!("      {step}");
                }
                if let Some(verdict) = line.find("vmcheck: ").map(|at| &line[at..]) {
                    println!("    {verdict}");
                    if verdict.contains(": PASS") {
                        passed += 1;
                    } else if verdict.contains(": FAIL") {
                        failed += 1;
                    } else if let Some(code) = verdict.strip_prefix("vmcheck: exit ") {
                        exit = code.trim().parse::<i32>().ok();
                    }
                }
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                vm.kill();
                return Err(Boot::TimedOut);
            }
        }
    }
    vm.wait();
    match exit {
        Some(0) if failed == 0 && passed == 4 => Ok(()),
        Some(code) => {
            Err(anyhow::anyhow!("{passed} modes passed, {failed} failed (exit {code})").into())
        }
        None => Err(Boot::EndedEarly(anyhow::anyhow!(
            "the checks never finished ({passed} modes passed, {failed} failed); the console \
             ended with:\n{}",
            tail.text()
        ))),
    }
}
