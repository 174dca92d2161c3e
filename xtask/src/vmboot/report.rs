//! What one boot reports on the serial console, read between the markers of the report
//! unit, and judged together with what the host sees of the forwarded ports.

use std::{
    io::{Read as _, Write as _},
    net::{SocketAddr, TcpStream},
    time::{Duration, Instant},
};

use anyhow::{Context as _, Result, bail, ensure};

use super::{
    image::{ALLOWED, PROTECTED},
    upgrade::Upgrade,
};
use crate::vm::qemu::{Tail, Vm};

/// The most one boot may take to report (about a minute is usual under TCG; the upgrade
/// boot takes a minute more).
const BOOT_TIMEOUT: Duration = Duration::from_mins(8);

/// What one boot reported.
pub(super) struct Report {
    pub(super) nic: String,
    status: Vec<String>,
    status_exit: String,
    field: Vec<String>,
    unit: Vec<String>,
    networkd: Vec<String>,
    /// Whether the allowed port answered and the protected one stayed silent, from the host.
    allowed_answered: bool,
    protected_answered: bool,
    /// `--confirm` under systemd: the transient timers listed, and how often the allow
    /// list held port 80 during the window and after it.
    confirm: [String; 3],
    confirm_output: Vec<String>,
    /// The heads of `man fwxdp` and `man fwxdp-attach`, and bash's completion of fwxdp once
    /// loaded.
    man: Vec<String>,
    completion: Vec<String>,
    upgrade: Upgrade,
}

pub(super) fn read_report(vm: &Vm, allowed: u16, protected: u16) -> Result<Report> {
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
        confirm: Default::default(),
        confirm_output: Vec::new(),
        man: Vec::new(),
        completion: Vec::new(),
        upgrade: Upgrade::default(),
    };
    let mut console = Tail::default();
    let mut ports_seen = false;
    loop {
        let Ok(line) = vm.line(deadline) else {
            bail!(
                "no report within {} s; the console ended with:\n{}",
                BOOT_TIMEOUT.as_secs(),
                console.text()
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
        } else if let Some(n) = line.strip_prefix("FWXDP-CONFIRM-TIMER ") {
            n.trim().clone_into(&mut report.confirm[0]);
        } else if let Some(n) = line.strip_prefix("FWXDP-CONFIRM-DURING ") {
            n.trim().clone_into(&mut report.confirm[1]);
        } else if let Some(n) = line.strip_prefix("FWXDP-CONFIRM-AFTER ") {
            n.trim().clone_into(&mut report.confirm[2]);
        } else if let Some(rest) = line.strip_prefix("FWXDP-CONFIRM-OUT ") {
            report.confirm_output.push(rest.to_owned());
        } else if let Some(rest) = line.strip_prefix("FWXDP-MAN ") {
            report.man.push(rest.to_owned());
        } else if let Some(rest) = line.strip_prefix("FWXDP-COMPLETE ") {
            report.completion.push(rest.to_owned());
        } else if line.contains("FWXDP-UPGRADE-START") {
            // The boot's own verdict on the ports comes before the upgrade changes anything.
            report.allowed_answered = answers(allowed);
            report.protected_answered = answers(protected);
            ports_seen = true;
            report.upgrade.line(&line, allowed, protected);
        } else if line.contains("FWXDP-BOOT-READY") {
            break;
        } else if !report.upgrade.line(&line, allowed, protected) {
            console.push(line);
        }
    }
    if !ports_seen {
        report.allowed_answered = answers(allowed);
        report.protected_answered = answers(protected);
    }
    Ok(report)
}

/// Whether a web server answers through the forwarded host port.
pub(super) fn answers(port: u16) -> bool {
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
    /// Judges the upgrade and removal of the upgrade boot, to `version`.
    pub(super) fn check_upgrade(&self, version: &str) -> Result<()> {
        self.upgrade.check(version)
    }

    pub(super) fn check(&self, nic: &str, last_good: bool) -> Result<()> {
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
            self.confirm == ["1", "0", "1"],
            "revoke --confirm 3s under systemd: timers, port 80 during, after = {:?}; it said:\n{}",
            self.confirm,
            self.confirm_output.join("\n")
        );
        // Each page's first line names it: `fwxdp(8) ... fwxdp(8)`.
        for page in ["fwxdp(8)", "fwxdp-attach(8)"] {
            ensure!(
                self.man.iter().any(|l| l.starts_with(page)),
                "man in the VM did not show {page}: {}",
                self.man.join("\n")
            );
        }
        ensure!(
            self.completion.iter().any(|l| l.contains("-F _fwxdp")),
            "bash completion in the VM: {}",
            self.completion.join("\n")
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
