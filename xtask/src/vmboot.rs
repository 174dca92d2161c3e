//! `cargo xtask vmboot`: a real systemd boot of Debian 12 on its stock kernel, with the
//! shipped unit and the shipped example config, checked from outside the VM.
//!
//! The root file system is made once with debootstrap from the machine's own Debian mirror
//! and cached under [`vmtest::CACHE`]; each run copies it, adds the release build of fwxdp,
//! `dist/systemd/fwxdp.service` (enabled) and `dist/fwxdp.toml` unedited, systemd-networkd
//! with DHCP on every Ethernet port, and web servers on an allowed port (80) and a
//! protected one (5432). qemu's user network forwards two loopback ports of the host to
//! them. Three boots:
//!
//! 1. classic names (`net.ifnames=0`, so `eth0`);
//! 2. predictable names (`enp0s3`-style, after udev renames the device);
//! 3. the disk of boot 2 with its config broken: the last good config applies.
//!
//! Each passes when, seen from the host, port 80 answers and 5432 stays silent; and seen from
//! inside, `fwxdp status` lists the NIC as filtered (and exits 0), the journal finds the service's lines by
//! `INTERFACE=`, and the filter was attached before systemd-networkd raised the link.

use std::{
    fs,
    io::{BufRead as _, BufReader, Read as _, Write as _},
    net::{SocketAddr, TcpListener, TcpStream},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::mpsc,
    thread,
    time::{Duration, Instant},
};

use anyhow::{Context as _, Result, bail, ensure};

use crate::vmtest;

/// What debootstrap installs besides its minimal base.
const PACKAGES: &str =
    "systemd,systemd-sysv,udev,kmod,iproute2,linux-image-amd64,initramfs-tools,busybox";

/// The most one boot may take to report (about a minute is usual under TCG).
const BOOT_TIMEOUT: Duration = Duration::from_mins(5);

/// The protected port the VM serves.
const PROTECTED: u16 = 5432;
/// The allowed port it serves (the shipped config allows 22, 80 and 443).
const ALLOWED: u16 = 80;

pub(crate) fn run() -> Result<()> {
    let target = crate::build_release("fwxdp-vmcheck")?;
    let cache = Path::new(vmtest::CACHE);
    let root = rootfs(cache)?;
    let work = cache.join(format!("vmboot-{}", std::process::id()));
    drop(fs::remove_dir_all(&work));
    fs::create_dir_all(&work)?;
    let result = boots(&root, &target.join("fwxdp"), &work);
    drop(fs::remove_dir_all(&work));
    result
}

fn boots(root: &Path, fwxdp: &Path, work: &Path) -> Result<()> {
    let disk = image(root, fwxdp, work)?;
    let classic = work.join("classic.img");
    crate::step("copy the disk for the classic-names boot", {
        let mut cmd = Command::new("cp");
        cmd.arg("--sparse=always").arg(&disk).arg(&classic);
        cmd
    })?;
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
    Ok(())
}

/// The Debian 12 root file system, made once.
fn rootfs(cache: &Path) -> Result<PathBuf> {
    let root = cache.join("rootfs/bookworm");
    if root.join("etc/debian_version").exists() && Kernel::find(&root).is_ok() {
        return Ok(root);
    }
    let partial = cache.join("rootfs/bookworm.partial");
    drop(fs::remove_dir_all(&partial));
    fs::create_dir_all(cache.join("rootfs"))?;
    let mirror = vmtest::mirror()?;
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

/// The report unit: what the VM says about itself on the serial console once the network
/// is online, between markers the host reads.
const REPORT: &str = r#"#!/bin/sh
nic=$(ls /sys/class/net | grep -v '^lo$' | head -n 1)
echo "FWXDP-NIC $nic"
fwxdp status > /run/fwxdp-status 2>&1
echo "FWXDP-STATUS-EXIT $?"
sed 's/^/FWXDP-STATUS /' /run/fwxdp-status
journalctl -b -o short-monotonic --no-pager INTERFACE="$nic" | sed 's/^/FWXDP-FIELD /'
journalctl -b -o short-monotonic --no-pager -u fwxdp.service | sed 's/^/FWXDP-UNIT /'
journalctl -b -o short-monotonic --no-pager -u systemd-networkd.service | sed 's/^/FWXDP-NETWORKD /'
echo FWXDP-BOOT-READY
"#;

/// The files the image gets, beside fwxdp itself, as (path, contents, mode).
fn files(unit: &str, config: &str) -> Vec<(&'static str, String, u32)> {
    vec![
        ("etc/systemd/system/fwxdp.service", unit.to_owned(), 0o644),
        ("etc/fwxdp/fwxdp.toml", config.to_owned(), 0o644),
        ("etc/hostname", "fwxdp-vm\n".to_owned(), 0o644),
        (
            "etc/fstab",
            "/dev/vda / ext4 defaults 0 1\n".to_owned(),
            0o644,
        ),
        (
            "etc/systemd/network/50-wired.network",
            "[Match]\nName=en* eth*\n\n[Network]\nDHCP=ipv4\n".to_owned(),
            0o644,
        ),
        (
            "etc/systemd/system/fwxdp-listeners.service",
            format!(
                "[Unit]\nDescription=web servers on an allowed and a protected port\n\
                 [Service]\nType=forking\nExecStartPre=/bin/sh -c 'mkdir -p /srv && echo \
                 served > /srv/index.html'\nExecStart=/bin/sh -c 'busybox httpd -p {ALLOWED} \
                 -h /srv && busybox httpd -p {PROTECTED} -h /srv'\n\
                 [Install]\nWantedBy=multi-user.target\n"
            ),
            0o644,
        ),
        (
            "etc/systemd/system/fwxdp-report.service",
            "[Unit]\nDescription=report to the host\nWants=network-online.target\n\
             After=network-online.target fwxdp.service fwxdp-listeners.service\n\
             [Service]\nType=oneshot\nExecStart=/usr/local/bin/fwxdp-report\n\
             StandardOutput=tty\nTTYPath=/dev/ttyS0\n\
             [Install]\nWantedBy=multi-user.target\n"
                .to_owned(),
            0o644,
        ),
        ("usr/local/bin/fwxdp-report", REPORT.to_owned(), 0o755),
    ]
}

/// A disk image of the root file system with fwxdp, its unit and config, and the test's
/// own units.
fn image(root: &Path, fwxdp: &Path, work: &Path) -> Result<PathBuf> {
    let tree = work.join("tree");
    crate::step("copy the root file system", {
        let mut cmd = Command::new("cp");
        cmd.arg("-a").arg(root).arg(&tree);
        cmd
    })?;
    let repo = crate::workspace_root();
    let unit = fs::read_to_string(repo.join("dist/systemd/fwxdp.service"))?;
    let config = fs::read_to_string(repo.join("dist/fwxdp.toml"))?;
    fs::copy(fwxdp, tree.join("usr/sbin/fwxdp")).context("install fwxdp")?;
    for (path, contents, mode) in files(&unit, &config) {
        let dest = tree.join(path);
        fs::create_dir_all(dest.parent().context("a parent")?)?;
        fs::write(&dest, contents)?;
        fs::set_permissions(&dest, std::os::unix::fs::PermissionsExt::from_mode(mode))?;
    }
    crate::step("systemctl enable (offline)", {
        let mut cmd = Command::new("systemctl");
        cmd.arg(format!("--root={}", tree.display())).args([
            "enable",
            "fwxdp.service",
            "systemd-networkd.service",
            "fwxdp-listeners.service",
            "fwxdp-report.service",
        ]);
        cmd
    })?;
    // The first boot makes the machine id.
    fs::write(tree.join("etc/machine-id"), "")?;
    let disk = work.join("disk.img");
    crate::step("mkfs.ext4 -d (the disk image)", {
        let mut cmd = Command::new("mkfs.ext4");
        cmd.args(["-q", "-F", "-L", "root", "-d"])
            .arg(&tree)
            .arg(&disk)
            .arg("3G");
        cmd
    })?;
    drop(fs::remove_dir_all(&tree));
    Ok(disk)
}

/// Replaces the config on `disk` with a broken one (a typo, as before a reboot).
fn break_config(disk: &Path, work: &Path) -> Result<()> {
    // The VM was killed, not shut down: replay the journal first (exit 1: fixed, fine).
    let fsck = Command::new("e2fsck")
        .args(["-f", "-y"])
        .arg(disk)
        .stdout(Stdio::null())
        .status()
        .context("run e2fsck")?;
    ensure!(
        matches!(fsck.code(), Some(0 | 1)),
        "e2fsck could not repair the disk ({fsck})"
    );
    let broken = work.join("broken.toml");
    fs::write(
        &broken,
        "[[interface]]\nname = [\"eth*\", \"en*\"\nallow = [\"22\"]\n",
    )?;
    for request in [
        "rm /etc/fwxdp/fwxdp.toml".to_owned(),
        format!("write {} /etc/fwxdp/fwxdp.toml", broken.display()),
    ] {
        let out = Command::new("debugfs")
            .args(["-w", "-R", &request])
            .arg(disk)
            .output()
            .context("run debugfs")?;
        // debugfs exits 0 whatever happens; its complaints are the verdict.
        let said = String::from_utf8_lossy(&out.stderr);
        ensure!(
            out.status.success() && !said.lines().skip(1).any(|l| !l.trim().is_empty()),
            "debugfs {request}: {said}"
        );
    }
    Ok(())
}

/// What one boot reported.
struct Report {
    nic: String,
    status: Vec<String>,
    status_exit: String,
    field: Vec<String>,
    unit: Vec<String>,
    networkd: Vec<String>,
    /// Whether the allowed port answered and the protected one stayed silent, from the host.
    allowed_answered: bool,
    protected_answered: bool,
}

/// A free loopback port of the host.
fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn boot(kernel: &Kernel, disk: &Path, cmdline: &str) -> Result<Report> {
    let (allowed, protected) = (free_port()?, free_port()?);
    let mut child = Command::new("qemu-system-x86_64")
        .args(["-accel", "tcg", "-cpu", "max", "-smp", "2", "-m", "1024"])
        .arg("-kernel")
        .arg(&kernel.vmlinuz)
        .arg("-initrd")
        .arg(&kernel.initrd)
        .arg("-append")
        .arg(format!(
            "root=/dev/vda rw console=ttyS0 panic=-1 random.trust_cpu=on {cmdline}"
        ))
        .arg("-drive")
        .arg(format!("file={},if=virtio,format=raw", disk.display()))
        .arg("-netdev")
        .arg(format!(
            "user,id=net0,hostfwd=tcp:127.0.0.1:{allowed}-:{ALLOWED},\
             hostfwd=tcp:127.0.0.1:{protected}-:{PROTECTED}"
        ))
        .args([
            "-device",
            "virtio-net-pci,netdev=net0",
            "-nographic",
            "-no-reboot",
            "-monitor",
            "none",
            "-serial",
            "stdio",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .context("start qemu-system-x86_64")?;
    let result = read_report(&mut child, allowed, protected);
    drop(child.kill());
    drop(child.wait());
    result
}

fn read_report(child: &mut Child, allowed: u16, protected: u16) -> Result<Report> {
    let stdout = child.stdout.take().context("qemu's console")?;
    let (lines, received) = mpsc::channel();
    thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if lines.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + BOOT_TIMEOUT;
    let mut report = Report {
        nic: String::new(),
        status: Vec::new(),
        status_exit: String::new(),
        field: Vec::new(),
        unit: Vec::new(),
        networkd: Vec::new(),
        allowed_answered: false,
        protected_answered: false,
    };
    let mut console = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let Ok(line) = received.recv_timeout(left) else {
            bail!(
                "no report within {} s; the console ended with:\n{}",
                BOOT_TIMEOUT.as_secs(),
                console[console.len().saturating_sub(40)..].join("\n")
            );
        };
        let line = line.trim_end_matches('\r').to_owned();
        if let Some(nic) = line.strip_prefix("FWXDP-NIC ") {
            nic.trim().clone_into(&mut report.nic);
        } else if let Some(rest) = line.strip_prefix("FWXDP-STATUS ") {
            report.status.push(rest.to_owned());
        } else if let Some(code) = line.strip_prefix("FWXDP-STATUS-EXIT ") {
            code.trim().clone_into(&mut report.status_exit);
        } else if let Some(rest) = line.strip_prefix("FWXDP-FIELD ") {
            report.field.push(rest.to_owned());
        } else if let Some(rest) = line.strip_prefix("FWXDP-UNIT ") {
            report.unit.push(rest.to_owned());
        } else if let Some(rest) = line.strip_prefix("FWXDP-NETWORKD ") {
            report.networkd.push(rest.to_owned());
        } else if line.contains("FWXDP-BOOT-READY") {
            break;
        } else {
            console.push(line);
        }
    }
    report.allowed_answered = answers(allowed);
    report.protected_answered = answers(protected);
    Ok(report)
}

/// Whether a web server answers through the forwarded host port.
fn answers(port: u16) -> bool {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_secs(3)) else {
        return false;
    };
    drop(stream.set_read_timeout(Some(Duration::from_secs(5))));
    if stream.write_all(b"GET / HTTP/1.0\r\n\r\n").is_err() {
        return false;
    }
    let mut reply = Vec::new();
    drop(stream.read_to_end(&mut reply));
    reply.starts_with(b"HTTP/1")
}

/// The monotonic time of a `journalctl -o short-monotonic` line (`[    5.123456] ...`).
fn monotonic(line: &str) -> Option<f64> {
    line.trim_start()
        .strip_prefix('[')?
        .split(']')
        .next()?
        .trim()
        .parse()
        .ok()
}

impl Report {
    fn check(&self, nic: &str, last_good: bool) -> Result<()> {
        let context = || {
            format!(
                "nic {}; status:\n{}\n(exit {}); fwxdp's journal:\n{}\nnetworkd's:\n{}",
                self.nic,
                self.status.join("\n"),
                self.status_exit,
                self.unit.join("\n"),
                self.networkd.join("\n")
            )
        };
        ensure!(
            self.nic == nic,
            "the NIC is {}, not {nic}: {}",
            self.nic,
            context()
        );
        let listed = self
            .status
            .iter()
            .any(|l| l.starts_with(&format!("{nic}: mode ")));
        let unfiltered = self.status.iter().any(|l| l.contains("NOT FILTERED"));
        ensure!(
            listed && !unfiltered && self.status_exit == "0",
            "fwxdp status does not say {nic} is filtered: {}",
            context()
        );
        ensure!(
            self.allowed_answered,
            "port {ALLOWED} did not answer from the host: {}",
            context()
        );
        ensure!(
            !self.protected_answered,
            "protected port {PROTECTED} answered from the host: {}",
            context()
        );
        ensure!(
            !self.field.is_empty(),
            "journalctl INTERFACE={nic} finds nothing: {}",
            context()
        );
        let attached = self
            .unit
            .iter()
            .find(|l| l.contains("attached") || l.contains("policy replaced"))
            .and_then(|l| monotonic(l))
            .with_context(|| format!("no attach in fwxdp's journal: {}", context()))?;
        let up = self
            .networkd
            .iter()
            .find(|l| l.contains(&format!("{nic}: Link UP")))
            .and_then(|l| monotonic(l))
            .with_context(|| format!("networkd never raised {nic}: {}", context()))?;
        ensure!(
            attached < up,
            "the filter came at {attached} s, after networkd raised {nic} at {up} s: {}",
            context()
        );
        let said = self
            .unit
            .iter()
            .any(|l| l.contains("applying the last config applied successfully"));
        ensure!(
            said == last_good,
            "the last good config {} applied: {}",
            if last_good { "was not" } else { "was" },
            context()
        );
        println!(
            "    vmboot: {nic} filtered at {attached:.2} s, raised at {up:.2} s; port \
             {ALLOWED} answers, {PROTECTED} silent{}",
            if last_good {
                "; last good config applied"
            } else {
                ""
            }
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::monotonic;

    #[test]
    fn reads_journal_monotonic_times() {
        assert_eq!(
            monotonic("[   32.976531] fwxdp-vm fwxdp[223]: attached"),
            Some(32.976_531)
        );
        assert_eq!(monotonic("-- No entries --"), None);
    }
}
