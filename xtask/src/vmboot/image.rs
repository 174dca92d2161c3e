//! The disk image each boot starts from: the cached root file system with the fwxdp
//! package installed (`dpkg -i`, then enabled as an operator would), the next build's
//! package beside it for the upgrade boot, and the test's own units: networkd, two web
//! servers and the report to the host.

use std::{
    fs,
    path::{Path, PathBuf},
    process::{Command, Stdio},
};

use anyhow::{Context as _, Result, ensure};

/// The protected port the VM serves.
pub(super) const PROTECTED: u16 = 5432;
/// The allowed port it serves (the shipped config allows 22, 80 and 443).
pub(super) const ALLOWED: u16 = 80;

/// The report unit: what the VM says about itself on the serial console once the network
/// is online, between markers the host reads. It runs before the serial getty, whose
/// hang-up of the console would cut it off.
const REPORT: &str = r#"#!/bin/sh
nic=$(ls /sys/class/net | grep -v '^lo$' | head -n 1)
echo "FWXDP-NIC $nic"
fwxdp status > /run/fwxdp-status 2>&1
echo "FWXDP-STATUS-EXIT $?"
sed 's/^/FWXDP-STATUS /' /run/fwxdp-status
# The package's documentation: a man page, and bash completion loaded on demand.
for page in fwxdp fwxdp-attach; do
    man -P cat "$page" 2>&1 | head -n 3 | sed 's/^/FWXDP-MAN /'
done
bash -c '. /usr/share/bash-completion/bash_completion; _completion_loader fwxdp; complete -p fwxdp' 2>&1 | sed 's/^/FWXDP-COMPLETE /'
# Confirm or revert under systemd: port 80 revoked with a 3 s window, put back by a
# transient timer.
timeout 30 fwxdp revoke "$nic" 80 --confirm 3s > /run/fwxdp-confirm 2>&1
echo "report: revoke exited $?"
echo "FWXDP-CONFIRM-TIMER $(timeout 10 systemctl list-timers --all --no-legend --no-pager 'fwxdp-revert-*' | wc -l)"
echo "FWXDP-CONFIRM-DURING $(timeout 10 fwxdp status --json | grep -c '"80"')"
sleep 7
echo "FWXDP-CONFIRM-AFTER $(timeout 10 fwxdp status --json | grep -c '"80"')"
sed 's/^/FWXDP-CONFIRM-OUT /' /run/fwxdp-confirm
journalctl -b --no-pager -u 'fwxdp-revert-*' | sed 's/^/FWXDP-CONFIRM-OUT /'
journalctl -b -o short-monotonic --no-pager INTERFACE="$nic" | sed 's/^/FWXDP-FIELD /'
journalctl -b -o short-monotonic --no-pager -u fwxdp.service | sed 's/^/FWXDP-UNIT /'
journalctl -b -o short-monotonic --no-pager -u systemd-networkd.service | sed 's/^/FWXDP-NETWORKD /'
if grep -qw fwxdp.upgrade /proc/cmdline; then
    # The host probes the ports from here to UPGRADE-DONE, and checks them after each phase
    # while this waits.
    echo FWXDP-UPGRADE-START
    # The host first judges the ports as every boot does (up to 8 s), then starts probing.
    sleep 12
    before=$(systemctl show -P MainPID fwxdp)
    dpkg -i /root/fwxdp-next.deb > /run/fwxdp-upgrade 2>&1
    echo "FWXDP-UPGRADE-DPKG $?"
    for i in $(seq 1 60); do
        fwxdp status > /dev/null 2>&1 && systemctl -q is-active fwxdp && break
        sleep 1
    done
    echo "FWXDP-UPGRADE-VERSION $(dpkg-query -W -f='${Version}' fwxdp)"
    echo "FWXDP-UPGRADE-PIDS $before $(systemctl show -P MainPID fwxdp)"
    fwxdp status > /run/fwxdp-status 2>&1
    echo "FWXDP-UPGRADE-STATUS-EXIT $?"
    echo "FWXDP-UPGRADE-LAYOUT $(journalctl -b --no-pager -u fwxdp.service | grep -c 'pins upgraded to this layout')"
    sed 's/^/FWXDP-UPGRADE-OUT /' /run/fwxdp-upgrade /run/fwxdp-status
    sleep 3
    echo FWXDP-UPGRADE-DONE
    sleep 15
    dpkg -r fwxdp > /run/fwxdp-remove 2>&1
    echo "FWXDP-REMOVE-DPKG $?"
    echo "FWXDP-REMOVE-PINS $(ls /sys/fs/bpf/fwxdp 2>/dev/null | wc -l)"
    echo "FWXDP-REMOVE-CONFIG $(test -f /etc/fwxdp/fwxdp.toml && echo kept || echo gone)"
    dpkg -P fwxdp >> /run/fwxdp-remove 2>&1
    echo "FWXDP-PURGE-DPKG $?"
    echo "FWXDP-PURGE-CONFIG $(test -e /etc/fwxdp && echo kept || echo gone)"
    sed 's/^/FWXDP-REMOVE-OUT /' /run/fwxdp-remove
    echo FWXDP-REMOVE-DONE
    sleep 15
fi
echo FWXDP-BOOT-READY
"#;

/// Where the image holds the next build's package, for the upgrade boot.
const NEXT_DEB: &str = "root/fwxdp-next.deb";

/// The files the image gets beside the package, as (path, contents, mode); `ssh_key` is
/// the public key the Ansible boot's controller logs in with, as root.
fn files(ssh_key: &str) -> Vec<(&'static str, String, u32)> {
    vec![
        ("root/.ssh/authorized_keys", ssh_key.to_owned(), 0o600),
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
             Before=serial-getty@ttyS0.service\n\
             [Service]\nType=oneshot\nExecStart=/usr/local/bin/fwxdp-report\n\
             StandardOutput=tty\nTTYPath=/dev/ttyS0\n\
             [Install]\nWantedBy=multi-user.target\n"
                .to_owned(),
            0o644,
        ),
        ("usr/local/bin/fwxdp-report", REPORT.to_owned(), 0o755),
    ]
}

/// A disk image of the root file system with the package `deb` installed (unit enabled), the
/// package `next` where the upgrade boot finds it, and the test's own units.
pub(super) fn image(
    root: &Path,
    deb: &Path,
    next: &Path,
    ssh_key: &str,
    work: &Path,
) -> Result<PathBuf> {
    let tree = work.join("tree");
    crate::step("copy the root file system", {
        let mut cmd = Command::new("cp");
        cmd.arg("-a").arg(root).arg(&tree);
        cmd
    })?;
    for (path, contents, mode) in files(ssh_key) {
        let dest = tree.join(path);
        fs::create_dir_all(dest.parent().context("a parent")?)?;
        fs::write(&dest, contents)?;
        fs::set_permissions(&dest, std::os::unix::fs::PermissionsExt::from_mode(mode))?;
    }
    fs::copy(deb, tree.join("root/fwxdp.deb")).context("copy the package")?;
    fs::copy(next, tree.join(NEXT_DEB)).context("copy the next package")?;
    crate::step("dpkg -i fwxdp (in the image)", {
        let mut cmd = Command::new("chroot");
        cmd.arg(&tree).args(["dpkg", "-i", "/root/fwxdp.deb"]);
        cmd
    })?;
    fs::remove_file(tree.join("root/fwxdp.deb"))?;
    // The package leaves the service disabled: enabled here, as the operator does once the
    // config says what to allow (the shipped one, unedited, allows 22, 80 and 443).
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
pub(super) fn break_config(disk: &Path, work: &Path) -> Result<()> {
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
