//! How `fwxdp reload` (systemd's `ExecReload`) learns whether the service took its reload:
//! the command leaves a request (a file named by a nonce) in the service's run directory
//! and signals it; at the start of each reload the service takes every request waiting, and
//! writes the outcome with the nonces it answers into a small status file, which the command
//! waits for. A reload already running when the signal came does not answer a request made
//! after it began. So `systemctl reload fwxdp` fails when the reload is refused, on every
//! systemd (Debian 12's 252 has no `Type=notify-reload`).

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
    #[error("process {pid} is not an fwxdp service: not signalling it")]
    NotFwxdp { pid: i32 },
    #[error("cannot leave a reload request in {path}")]
    Request { path: PathBuf, source: io::Error },
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
    /// The requests this reload answers.
    pub answers: Vec<String>,
    pub message: String,
}

fn status_path(run_dir: &Path) -> PathBuf {
    run_dir.join("reload.status")
}

fn requests_dir(run_dir: &Path) -> PathBuf {
    run_dir.join("reload.requests")
}

/// A reload request: its nonce, and the confirmation window it asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Request {
    pub(super) nonce: String,
    pub(super) confirm: Option<Duration>,
}

/// Takes the reload requests waiting in `run_dir` (at the start of a reload).
pub(super) fn take_requests(run_dir: &Path) -> Vec<Request> {
    let dir = requests_dir(run_dir);
    let Ok(entries) = fs::read_dir(&dir) else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let nonce = entry.file_name().into_string().ok()?;
            let text = fs::read_to_string(entry.path()).unwrap_or_default();
            fs::remove_file(entry.path()).ok()?;
            let confirm = text
                .strip_prefix("confirm=")
                .and_then(|secs| secs.trim().parse().ok())
                .map(Duration::from_secs);
            Some(Request { nonce, confirm })
        })
        .collect()
}

impl Outcome {
    fn parse(text: &str) -> Option<Self> {
        let mut fields = text.splitn(5, ' ');
        let pid = fields.next()?.parse().ok()?;
        let sequence = fields.next()?.parse().ok()?;
        let ok = match fields.next()? {
            "ok" => true,
            "refused" => false,
            _ => return None,
        };
        let answers = match fields.next()? {
            "-" => Vec::new(),
            list => list.split(',').map(str::to_owned).collect(),
        };
        let message = fields.next().unwrap_or_default().trim_end().to_owned();
        Some(Self {
            pid,
            sequence,
            ok,
            answers,
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
        let answers = if self.answers.is_empty() {
            "-".to_owned()
        } else {
            self.answers.join(",")
        };
        fs::write(
            &temporary,
            format!(
                "{} {} {verdict} {answers} {message}\n",
                self.pid, self.sequence
            ),
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

/// Asks the service (`pid`, or the one that wrote the status file) to reload, reverting
/// unless confirmed within `confirm`, and waits for its answer: the message of a reload it
/// took, or why it refused.
pub fn reload(
    run_dir: &Path,
    pid: Option<i32>,
    confirm: Option<Duration>,
) -> Result<String, ControlError> {
    let before = Outcome::read(run_dir)?;
    let pid = pid.unwrap_or(before.pid);
    // A stale status file names a pid that may be anything now; SIGHUP would kill most.
    let is_fwxdp = fs::read_link(format!("/proc/{pid}/exe"))
        .ok()
        .and_then(|exe| exe.file_name().map(|n| n.to_string_lossy().into_owned()))
        .is_some_and(|name| name.starts_with("fwxdp"));
    if !is_fwxdp {
        return Err(ControlError::NotFwxdp { pid });
    }
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let nonce = format!("{}-{nanos}", std::process::id());
    let dir = requests_dir(run_dir);
    let request = dir.join(&nonce);
    let body = confirm.map_or_else(String::new, |w| format!("confirm={}\n", w.as_secs().max(1)));
    fs::create_dir_all(&dir)
        .and_then(|()| fs::write(&request, body))
        .map_err(|source| ControlError::Request {
            path: request.clone(),
            source,
        })?;
    let answer = wait_for(run_dir, pid, &nonce);
    // Answered, the service removed it; unanswered, nobody else will.
    drop(fs::remove_file(&request));
    answer
}

fn wait_for(run_dir: &Path, pid: i32, nonce: &str) -> Result<String, ControlError> {
    signal::kill(Pid::from_raw(pid), signal::Signal::SIGHUP)
        .map_err(|source| ControlError::Signal { pid, source })?;
    let deadline = Instant::now() + ANSWER_WAIT;
    while Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
        let Ok(now) = Outcome::read(run_dir) else {
            continue;
        };
        if now.answers.iter().any(|a| a == nonce) {
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
            answers: vec!["7-1".into(), "8-2".into()],
            message: "eth0: bad\nsecond line".into(),
        };
        outcome.publish(&dir).expect("publish");
        let back = Outcome::read(&dir).expect("read");
        assert_eq!(back.message, "eth0: bad; second line");
        assert_eq!((back.pid, back.sequence, back.ok), (42, 3, false));
        assert_eq!(back.answers, ["7-1", "8-2"]);
        fs::create_dir_all(requests_dir(&dir)).expect("requests");
        fs::write(requests_dir(&dir).join("9-3"), b"").expect("request");
        fs::write(requests_dir(&dir).join("9-4"), b"confirm=60\n").expect("request");
        let mut taken = take_requests(&dir);
        taken.sort_by(|a, b| a.nonce.cmp(&b.nonce));
        assert_eq!(
            taken,
            [
                Request {
                    nonce: "9-3".into(),
                    confirm: None
                },
                Request {
                    nonce: "9-4".into(),
                    confirm: Some(Duration::from_mins(1))
                }
            ]
        );
        assert!(take_requests(&dir).is_empty());
        fs::remove_dir_all(&dir).expect("clean up");
        assert!(Outcome::parse("garbage").is_none());
    }
}
