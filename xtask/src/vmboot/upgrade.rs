//! The upgrade boot, seen from the host: while the VM installs the next build's package,
//! probes keep knocking on the protected port (none may get an answer); after it, the
//! allowed port must answer; after removal, the protected one answers (the filter went with
//! the package, as documented).

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    thread::JoinHandle,
    time::Duration,
};

use anyhow::{Result, ensure};

use super::report::answers;

/// A new probe starts this often; each waits up to a few seconds for its answer (qemu's
/// forward accepts at once and then tries the guest), so several are in flight at a time
/// and a gap of a fraction of a second would meet one.
const PROBE_EVERY: Duration = Duration::from_millis(200);

/// Probes of one port, until finished.
struct Prober {
    stop: Arc<AtomicBool>,
    answered: Arc<AtomicUsize>,
    sender: JoinHandle<usize>,
}

impl Prober {
    fn start(port: u16) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let answered = Arc::new(AtomicUsize::new(0));
        let sender = {
            let (stop, answered) = (Arc::clone(&stop), Arc::clone(&answered));
            std::thread::spawn(move || {
                let mut probes = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    let answered = Arc::clone(&answered);
                    probes.push(std::thread::spawn(move || {
                        if answers(port) {
                            answered.fetch_add(1, Ordering::Relaxed);
                        }
                    }));
                    std::thread::sleep(PROBE_EVERY);
                }
                let sent = probes.len();
                for probe in probes {
                    drop(probe.join());
                }
                sent
            })
        };
        Self {
            stop,
            answered,
            sender,
        }
    }

    /// Stops probing and waits for the probes in flight: (sent, answered).
    fn finish(self) -> (usize, usize) {
        self.stop.store(true, Ordering::Relaxed);
        let sent = self.sender.join().unwrap_or(0);
        (sent, self.answered.load(Ordering::Relaxed))
    }
}

/// What the upgrade boot reported, and what the host saw during it.
#[derive(Default)]
pub(super) struct Upgrade {
    prober: Option<Prober>,
    /// Probes of the protected port during the upgrade: sent, answered.
    probes: (usize, usize),
    /// Whether the allowed port answered after the upgrade (`None` before it is done).
    allowed_after: Option<bool>,
    /// Whether the protected port answered after removal (`None` before it is done).
    protected_after_removal: Option<bool>,
    dpkg: String,
    version: String,
    pids: String,
    status_exit: String,
    /// How many interfaces the new service said it upgraded to its pin layout.
    layout_upgrades: String,
    remove_dpkg: String,
    pins_after_removal: String,
    config_after_removal: String,
    purge_dpkg: String,
    config_after_purge: String,
    output: Vec<String>,
}

impl Upgrade {
    /// Takes `line` if it is the upgrade's, acting on its markers with the forwarded
    /// `allowed` and `protected` ports; whether it was.
    pub(super) fn line(&mut self, line: &str, allowed: u16, protected: u16) -> bool {
        let value = |prefix: &str| line.strip_prefix(prefix).map(|v| v.trim().to_owned());
        if line.contains("FWXDP-UPGRADE-START") {
            self.prober = Some(Prober::start(protected));
        } else if line.contains("FWXDP-UPGRADE-DONE") {
            if let Some(prober) = self.prober.take() {
                self.probes = prober.finish();
            }
            self.allowed_after = Some(answers(allowed));
        } else if line.contains("FWXDP-REMOVE-DONE") {
            self.protected_after_removal = Some(answers(protected));
        } else if let Some(rest) = line.strip_prefix("FWXDP-UPGRADE-OUT ") {
            self.output.push(rest.to_owned());
        } else if let Some(rest) = line.strip_prefix("FWXDP-REMOVE-OUT ") {
            self.output.push(rest.to_owned());
        } else {
            let fields: [(&str, &mut String); 10] = [
                ("FWXDP-UPGRADE-DPKG ", &mut self.dpkg),
                ("FWXDP-UPGRADE-VERSION ", &mut self.version),
                ("FWXDP-UPGRADE-PIDS ", &mut self.pids),
                ("FWXDP-UPGRADE-STATUS-EXIT ", &mut self.status_exit),
                ("FWXDP-UPGRADE-LAYOUT ", &mut self.layout_upgrades),
                ("FWXDP-REMOVE-DPKG ", &mut self.remove_dpkg),
                ("FWXDP-REMOVE-PINS ", &mut self.pins_after_removal),
                ("FWXDP-REMOVE-CONFIG ", &mut self.config_after_removal),
                ("FWXDP-PURGE-DPKG ", &mut self.purge_dpkg),
                ("FWXDP-PURGE-CONFIG ", &mut self.config_after_purge),
            ];
            for (prefix, field) in fields {
                if let Some(v) = value(prefix) {
                    *field = v;
                    return true;
                }
            }
            return false;
        }
        true
    }

    /// Judges the upgrade to `version` and the removal after it.
    pub(super) fn check(&self, version: &str) -> Result<()> {
        let said = || self.output.join("\n");
        let (Some(allowed_after), Some(protected_after_removal)) =
            (self.allowed_after, self.protected_after_removal)
        else {
            anyhow::bail!(
                "the upgrade boot did not get through its phases: {}",
                said()
            );
        };
        ensure!(
            self.dpkg == "0" && self.version == version,
            "dpkg -i of the next build exited {} and left version {:?}, not {version}: {}",
            self.dpkg,
            self.version,
            said()
        );
        let pids: Vec<&str> = self.pids.split_whitespace().collect();
        ensure!(
            pids.len() == 2 && pids[0] != "0" && pids[1] != "0" && pids[0] != pids[1],
            "the service was not restarted on the new build (main PIDs before, after: {:?}): {}",
            self.pids,
            said()
        );
        ensure!(
            self.status_exit == "0",
            "fwxdp status after the upgrade exited {}: {}",
            self.status_exit,
            said()
        );
        // The next build is the next pin layout: the service must have taken the old pins
        // over link by link, not in place.
        ensure!(
            self.layout_upgrades.parse::<u32>().is_ok_and(|n| n >= 1),
            "the new service did not say it upgraded the pins to its layout ({:?} times): {}",
            self.layout_upgrades,
            said()
        );
        let (sent, answered) = self.probes;
        ensure!(
            sent >= 10,
            "only {sent} probes during the upgrade: it went too fast to be watched"
        );
        ensure!(
            answered == 0,
            "{answered} of {sent} probes reached the protected port during the upgrade"
        );
        ensure!(
            allowed_after,
            "the allowed port did not answer after the upgrade"
        );
        ensure!(
            self.remove_dpkg == "0" && self.purge_dpkg == "0",
            "dpkg -r exited {}, dpkg -P {}: {}",
            self.remove_dpkg,
            self.purge_dpkg,
            said()
        );
        ensure!(
            self.pins_after_removal == "0",
            "{} pins left after removal: {}",
            self.pins_after_removal,
            said()
        );
        ensure!(
            self.config_after_removal == "kept" && self.config_after_purge == "gone",
            "the config after removal was {}, after purge {}",
            self.config_after_removal,
            self.config_after_purge
        );
        ensure!(
            protected_after_removal,
            "the protected port stayed closed after removal: the filter outlived its package"
        );
        println!(
            "    vmboot: upgraded to {version} (the next pin layout) under {sent} probes of the protected port, none \
             answered; removal detached the filter and purge took the config"
        );
        Ok(())
    }
}
