//! `cargo xtask vmboot`: a real systemd boot of Debian 12 on its stock kernel, with fwxdp
//! installed from its Debian package (`cargo xtask deb`) and the shipped example config,
//! checked from outside the VM.
//!
//! The root file system is made once with debootstrap from the machine's own Debian mirror
//! and cached under [`CACHE`]; each run copies it, installs the package with `dpkg -i` and
//! enables its unit, and adds systemd-networkd with DHCP on every Ethernet port and web
//! servers on an allowed port (80) and a protected one (5432). qemu's user network forwards
//! three loopback ports of the host to them (the web servers and SSH). Five boots:
//!
//! 1. classic names (`net.ifnames=0`, so `eth0`);
//! 2. predictable names (`enp0s3`-style, after udev renames the device);
//! 3. the disk of boot 2 with its config broken: the last good config applies;
//! 4. a fresh disk, upgraded in the running VM to the next build's package (built as the
//!    next pin layout, so the new service upgrades the pins link by link) while the host
//!    probes the protected port, then removed and purged;
//! 5. that disk again, without fwxdp: `dist/ansible`'s role installs it over SSH (a
//!    loopback port of the host forwarded to the VM's 22) and is run again, with a bad
//!    variable, and with a policy that shuts the controller out (`ansible`).
//!
//! Each passes when, seen from the host, port 80 answers and 5432 stays silent; and seen
//! from inside, `fwxdp status` lists the NIC as filtered (and exits 0), the journal finds
//! the service's lines by `INTERFACE=`, the filter was attached before systemd-networkd
//! raised the link, a `revoke --confirm 3s` left unconfirmed was put back by its transient
//! systemd timer, `man fwxdp` and `man fwxdp-attach` render and bash completion loads. The
//! upgrade passes when no probe reached the protected port, the service runs again as a
//! new process on the new version, says it upgraded the pins to its layout, and port 80
//! answers after; removal when it detached the
//! filter (5432 answers, as the package documents), left no pins, kept the config until
//! the purge.

mod ansible;
mod image;
mod report;
mod upgrade;

use std::{
    fs,
    net::TcpListener,
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{Context as _, Result, ensure};

use crate::vm::{
    debian::{CACHE, mirror},
    qemu,
};
use image::{ALLOWED, PROTECTED, break_config, image};
use report::{Report, read_report};

/// What debootstrap installs besides its minimal base.
/// man-db and bash-completion: the package's man pages and completions are checked in it.
/// openssh-server, python3 and sudo: the Ansible boot's controller logs in and runs the role.
const PACKAGES: &str = "systemd,systemd-sysv,udev,kmod,iproute2,linux-image-amd64,\
                        initramfs-tools,busybox,man-db,bash-completion,openssh-server,python3,\
                        sudo";
/// A cached root file system says which packages it was made with here.
const STAMP: &str = ".fwxdp-packages";
/// The version of the next build (this code packaged again as the next pin layout), which the upgrade boot
/// installs over this one.
fn next_version() -> String {
    format!("{}+next", env!("CARGO_PKG_VERSION"))
}

pub(crate) fn run() -> Result<()> {
    let cache = Path::new(CACHE);
    let work = cache.join(format!("vmboot-{}", std::process::id()));
    drop(fs::remove_dir_all(&work));
    fs::create_dir_all(&work)?;
    let result = packages(&work).and_then(|(deb, next)| {
        let root = rootfs(cache)?;
        boots(&root, &deb, &next, &work)
    });
    drop(fs::remove_dir_all(&work));
    result
}

/// The package and the next build's, copied into `work`: cargo-deb deletes the packages of
/// its default directory whenever it makes one, so this build's is made last and stays there.
fn packages(work: &Path) -> Result<(PathBuf, PathBuf)> {
    let next = work.join("fwxdp-next.deb");
    fs::copy(crate::deb::build(Some(&next_version()))?, &next)?;
    let deb = work.join("fwxdp.deb");
    fs::copy(crate::deb::run()?, &deb)?;
    Ok((deb, next))
}

fn boots(root: &Path, deb: &Path, next: &Path, work: &Path) -> Result<()> {
    let key = ansible::key(work)?;
    let disk = image(root, deb, next, &key.public, work)?;
    let copy = |name: &str| -> Result<PathBuf> {
        let path = work.join(name);
        crate::step(&format!("copy the disk ({name})"), {
            let mut cmd = Command::new("cp");
            cmd.arg("--sparse=always").arg(&disk).arg(&path);
            cmd
        })?;
        Ok(path)
    };
    let classic = copy("classic.img")?;
    let fresh = copy("upgrade.img")?;
    let kernel = Kernel::find(root)?;
    println!(
        "==> vmboot: Debian 12, Linux {}, net.ifnames=0",
        kernel.release
    );
    let report = boot(&kernel, &classic, "net.ifnames=0")?;
    report.check("eth0", false)?;
    println!("==> vmboot: predictable names");
    let report = boot(&kernel, &disk, "")?;
    ensure!(
        report.nic.starts_with("en"),
        "expected a predictable name, got {}",
        report.nic
    );
    let nic = report.nic.clone();
    report.check(&nic, false)?;
    println!("==> vmboot: a broken config at boot");
    break_config(&disk, work)?;
    let report = boot(&kernel, &disk, "")?;
    report.check(&nic, true)?;
    println!("==> vmboot: upgrade to the next build, then removal");
    let report = boot(&kernel, &fresh, "fwxdp.upgrade")?;
    report.check(&nic, false)?;
    report.check_upgrade(&next_version())?;
    println!("==> vmboot: the Ansible role, over SSH");
    boot_then(&kernel, &fresh, "", |ports, _| {
        ansible::run(ports, deb, &key.private, work)
    })
}

/// The Debian 12 root file system, made once.
fn rootfs(cache: &Path) -> Result<PathBuf> {
    let root = cache.join("rootfs/bookworm");
    let made_with = fs::read_to_string(root.join(STAMP)).unwrap_or_default();
    if made_with == PACKAGES && Kernel::find(&root).is_ok() {
        return Ok(root);
    }
    let partial = cache.join("rootfs/bookworm.partial");
    drop(fs::remove_dir_all(&partial));
    fs::create_dir_all(cache.join("rootfs"))?;
    let mirror = mirror()?;
    crate::step("debootstrap Debian 12 (once; cached)", {
        let mut cmd = Command::new("debootstrap");
        cmd.args([
            "--variant=minbase",
            &format!("--include={PACKAGES}"),
            "bookworm",
        ])
        .arg(&partial)
        .arg(&mirror);
        cmd
    })?;
    if Kernel::find(&partial).is_err() {
        // The kernel was unpacked before initramfs-tools: make its initramfs now.
        crate::step("update-initramfs in the new root", {
            let mut cmd = Command::new("chroot");
            cmd.arg(&partial)
                .args(["update-initramfs", "-c", "-k", "all"]);
            cmd
        })?;
    }
    fs::write(partial.join(STAMP), PACKAGES)?;
    drop(fs::remove_dir_all(&root));
    fs::rename(&partial, &root).context("keep the root file system")?;
    Ok(root)
}

/// A kernel and initramfs in the root file system.
struct Kernel {
    release: String,
    vmlinuz: PathBuf,
    initrd: PathBuf,
}

impl Kernel {
    fn find(root: &Path) -> Result<Self> {
        let boot = root.join("boot");
        let release = fs::read_dir(&boot)?
            .filter_map(Result::ok)
            .find_map(|e| {
                e.file_name()
                    .to_string_lossy()
                    .strip_prefix("vmlinuz-")
                    .map(str::to_owned)
            })
            .context("no kernel in the root file system")?;
        let initrd = boot.join(format!("initrd.img-{release}"));
        ensure!(initrd.exists(), "no initramfs for {release}");
        Ok(Self {
            vmlinuz: boot.join(format!("vmlinuz-{release}")),
            initrd,
            release,
        })
    }
}

/// A free loopback port of the host.
fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// The host's loopback ports forwarded to the VM.
pub(super) struct Ports {
    pub(super) allowed: u16,
    pub(super) protected: u16,
    pub(super) ssh: u16,
}

fn boot(kernel: &Kernel, disk: &Path, cmdline: &str) -> Result<Report> {
    boot_then(kernel, disk, cmdline, |_, report| Ok(report))
}

/// Boots `disk`, reads its report, and runs `then` while the VM still runs.
fn boot_then<T>(
    kernel: &Kernel,
    disk: &Path,
    cmdline: &str,
    then: impl FnOnce(&Ports, Report) -> Result<T>,
) -> Result<T> {
    let ports = Ports {
        allowed: free_port()?,
        protected: free_port()?,
        ssh: free_port()?,
    };
    let mut qemu = qemu::command(
        &kernel.vmlinuz,
        &kernel.initrd,
        &format!("root=/dev/vda rw console=ttyS0 panic=-1 random.trust_cpu=on {cmdline}"),
    );
    qemu.arg("-drive")
        .arg(format!("file={},if=virtio,format=raw", disk.display()))
        .arg("-netdev")
        .arg(format!(
            "user,id=net0,hostfwd=tcp:127.0.0.1:{}-:{ALLOWED},\
             hostfwd=tcp:127.0.0.1:{}-:{PROTECTED},hostfwd=tcp:127.0.0.1:{}-:22",
            ports.allowed, ports.protected, ports.ssh
        ))
        .args(["-device", "virtio-net-pci,netdev=net0"]);
    let vm = qemu::start(qemu)?;
    let result = read_report(&vm, ports.allowed, ports.protected).and_then(|r| then(&ports, r));
    vm.kill();
    result
}
