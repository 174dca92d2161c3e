//! How `fwxdp reload` (systemd's `ExecReload`) learns whether the service took a reload:
//! the service writes the outcome of every reload, numbered, into a small file in its run
//! directory; the command signals the service and waits for the next number. So
//! `systemctl reload fwxdp` fails when the reload is refused, on every systemd (Debian 12's
//! 252 has no `Type=notify-reload`).

use std::{
    fs, io,
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use nix::{sys::signal, unistd::Pid};

/// Where the service keeps its run-time files unless told otherwise.
pub const DEFAULT_RUN_DIR: &str = "/run/fwxdp";

/// How long `fwxdp reload` waits for the service to answer; an attach is well under this.
const ANSWER_WAIT: Duration = Duration::from_secs(90);

#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    #[error("no fwxdp service is running ({path}: {source})")]
    NoService { path: PathBuf, source: io::Error },
    #[error("{path} is not a reload status file")]
    Garbled { path: PathBuf },
    #[error("cannot signal the service (pid {pid})")]
    Signal { pid: i32, source: nix::Error },
    #[error("the service did not answer the reload within {}s", ANSWER_WAIT.as_secs())]
    NoAnswer,
    #[error("reload refused: {message}")]
    Refused { message: String },
}

/// The service's last reload outcome, as the file holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    pub pid: i32,
    /// Counts the reloads since the service started.
    pub sequence: u64,
    pub ok: bool,
    pub message: String,
}

fn status_path(run_dir: &Path) -> PathBuf {
    run_dir.join("reload.status")
}

impl Outcome {
    fn parse(text: &str) -> Option<Self> {
        let mut fields = text.splitn(4, ' ');
        let pid = fields.next()?.parse().ok()?;
        let sequence = fields.next()?.parse().ok()?;
        let ok = match fields.next()? {
            "ok" => true,
            "refused" => false,
            _ => return None,
        };
        let message = fields.next().unwrap_or_default().trim_end().to_owned();
        Some(Self {
            pid,
            sequence,
            ok,
            message,
        })
    }

    /// Writes the outcome (whole, through a rename) into `run_dir`.
    pub(super) fn publish(&self, run_dir: &Path) -> io::Result<()> {
        fs::create_dir_all(run_dir)?;
        let path = status_path(run_dir);
        let temporary = path.with_extension("new");
        let verdict = if self.ok { "ok" } else { "refused" };
        let message = self.message.replace('\n', "; ");
        fs::write(
            &temporary,
            format!("{} {} {verdict} {message}\n", self.pid, self.sequence),
        )?;
        fs::rename(&temporary, &path)
    }

    fn read(run_dir: &Path) -> Result<Self, ControlError> {
        let path = status_path(run_dir);
        let text = fs::read_to_string(&path).map_err(|source| ControlError::NoService {
            path: path.clone(),
            source,
        })?;
        Self::parse(&text).ok_or(ControlError::Garbled { path })
    }
}

/// Asks the service (`pid`, or the one that wrote the status file) to reload and waits for
/// its answer: the message of a reload it took, or why it refused.
pub fn reload(run_dir: &Path, pid: Option<i32>) -> Result<String, ControlError> {
    let before = Outcome::read(run_dir)?;
    let pid = pid.unwrap_or(before.pid);
    signal::kill(Pid::from_raw(pid), signal::Signal::SIGHUP)
        .map_err(|source| ControlError::Signal { pid, source })?;
    let deadline = Instant::now() + ANSWER_WAIT;
    while Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
        let Ok(now) = Outcome::read(run_dir) else {
            continue;
        };
        // A restarted service numbers afresh: its pid tells.
        if now.pid != before.pid || now.sequence > before.sequence {
            return if now.ok {
                Ok(now.message)
            } else {
                Err(ControlError::Refused {
                    message: now.message,
                })
            };
        }
    }
    Err(ControlError::NoAnswer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_outcome_reads_back_as_written() {
        let dir = std::env::temp_dir().join(format!("fwxdp-control-{}", std::process::id()));
        let outcome = Outcome {
            pid: 42,
            sequence: 3,
            ok: false,
            message: "eth0: bad\nsecond line".into(),
        };
        outcome.publish(&dir).expect("publish");
        let back = Outcome::read(&dir).expect("read");
        assert_eq!(back.message, "eth0: bad; second line");
        assert_eq!((back.pid, back.sequence, back.ok), (42, 3, false));
        fs::remove_dir_all(&dir).expect("clean up");
        assert!(Outcome::parse("garbage").is_none());
    }
}
