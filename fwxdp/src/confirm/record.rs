//! The record of a change that waits for `fwxdp confirm`: what each interface it touched
//! was before it, when it is reverted, and by what. One per pin root, in the run directory
//! (tmpfs: a reboot ends the change with the pins it changed).

use std::{
    fs, io,
    path::{Path, PathBuf},
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use serde::{Deserialize, Serialize};

use crate::{
    mode::AttachMode,
    policy::{Policy, PolicyError},
    state::{PinRoot, Running},
};

/// One interface before the change: `None` when it was not attached.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Before {
    pub iface: String,
    pub state: Option<Saved>,
}

/// An attached interface's state, as items (the record is text, and outlives the process).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Saved {
    pub allow: Vec<String>,
    pub limits: Vec<String>,
    pub mode: AttachMode,
    pub monitor: bool,
    pub log_rate: u32,
}

impl Saved {
    #[must_use]
    pub fn of(running: &Running) -> Self {
        Self {
            allow: running.policy.to_specs(),
            limits: running.policy.limit_specs(),
            mode: running.mode,
            monitor: running.monitor,
            log_rate: running.log_rate,
        }
    }

    /// The policy these items make (as they came from a policy, they parse).
    ///
    /// # Errors
    /// When the record was edited into something that is not a policy.
    pub fn policy(&self) -> Result<Policy, PolicyError> {
        if self.allow.is_empty() && self.limits.is_empty() {
            return Ok(Policy::deny_all());
        }
        Policy::parse_with_limits(&self.allow, &self.limits)
    }
}

/// What carries out the revert if no confirmation comes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reverter {
    /// A transient systemd timer (`systemd-run --on-active`), by its unit name.
    Timer { unit: String },
    /// A process of its own session that sleeps until the deadline.
    Process { pid: i32 },
}

/// A service reload waiting for confirmation: the service keeps the new config only once
/// it is confirmed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceReload {
    pub pid: i32,
}

/// A change waiting for `fwxdp confirm`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pending {
    /// Names this change among others (a revert only reverts the change it was made for).
    pub id: String,
    /// The command, as the operator gave it.
    pub what: String,
    /// Seconds since the Unix epoch.
    pub made_at: u64,
    /// When it is reverted unless confirmed, in seconds of the boot-time clock
    /// (`CLOCK_BOOTTIME`, as systemd's `--on-active`): a step of the wall clock neither
    /// brings a revert forward nor puts it off.
    pub deadline: u64,
    pub pin_root: PathBuf,
    pub before: Vec<Before>,
    pub reverter: Option<Reverter>,
    pub service: Option<ServiceReload>,
}

/// The end of a change that was not confirmed, kept for `confirm` and `status` to tell.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reverted {
    pub id: String,
    pub what: String,
    pub at: u64,
    /// Interfaces that could not be put back, with why (empty when all were).
    pub failed: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error("cannot read {path}")]
    Read { path: PathBuf, source: io::Error },
    #[error("{path} is not a confirmation record: {source}")]
    Garbled {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("cannot write {path}")]
    Write { path: PathBuf, source: io::Error },
}

/// A change confirmed, so that a reverter that finds its record gone knows why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Confirmed {
    pub id: String,
}

/// The longest window a change may wait for confirmation.
pub const MAX_WINDOW: Duration = Duration::from_hours(24);

/// Seconds since the Unix epoch.
#[must_use]
pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Seconds of `CLOCK_BOOTTIME`: since boot, suspend included, never stepped.
#[must_use]
pub fn boot_now() -> u64 {
    boot_clock().as_secs()
}

/// Time since boot, suspend included, to the nanosecond.
#[must_use]
pub fn boot_clock() -> Duration {
    nix::time::clock_gettime(nix::time::ClockId::CLOCK_BOOTTIME).map_or(Duration::ZERO, |t| {
        Duration::new(
            u64::try_from(t.tv_sec()).unwrap_or(0),
            u32::try_from(t.tv_nsec()).unwrap_or(0),
        )
    })
}

/// The deadline, in whole boot-time seconds, of a window of `window` that starts at
/// `start`: rounded up, so a change never reverts before the window asked for is over.
#[must_use]
pub fn deadline_after(start: Duration, window: Duration) -> u64 {
    let end = start.saturating_add(window);
    end.as_secs()
        .saturating_add(u64::from(end.subsec_nanos() > 0))
}

/// A fresh id: unguessable enough that a stale timer never reverts a later change.
#[must_use]
pub fn new_id() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!("{:x}{:08x}{:x}", now(), nanos, std::process::id())
}

impl Pending {
    /// A change made now that reverts after `window` (which [`super::begin`] bounds).
    #[must_use]
    pub fn new(what: String, root: &PinRoot, before: Vec<Before>, window: Duration) -> Self {
        Self {
            id: new_id(),
            what,
            made_at: now(),
            deadline: deadline_after(boot_clock(), window),
            pin_root: root.path().to_owned(),
            before,
            reverter: None,
            service: None,
        }
    }

    /// Whole seconds left before the revert, never fewer than there are: zero only once it is due.
    #[must_use]
    pub fn remaining(&self) -> u64 {
        self.deadline.saturating_sub(boot_now())
    }
}

/// Where the records of the pin root `root` live in `run_dir`: one name per pin root, so
/// that two roots (a test lab, a second namespace) never share a change.
fn stem(root: &Path) -> String {
    let mut name: String = root
        .to_string_lossy()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    name.truncate(120);
    name
}

#[must_use]
pub fn pending_path(run_dir: &Path, root: &Path) -> PathBuf {
    run_dir.join(format!("confirm{}.json", stem(root)))
}

#[must_use]
pub fn confirmed_path(run_dir: &Path, root: &Path) -> PathBuf {
    run_dir.join(format!("confirmed{}.json", stem(root)))
}

#[must_use]
pub fn reverted_path(run_dir: &Path, root: &Path) -> PathBuf {
    run_dir.join(format!("reverted{}.json", stem(root)))
}

/// Reads the JSON record at `path`; `None` when there is none.
///
/// # Errors
/// When it exists and cannot be read or parsed.
pub fn read<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<Option<T>, RecordError> {
    let text = match fs::read(path) {
        Ok(text) => text,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(RecordError::Read {
                path: path.to_owned(),
                source,
            });
        }
    };
    serde_json::from_slice(&text)
        .map(Some)
        .map_err(|source| RecordError::Garbled {
            path: path.to_owned(),
            source,
        })
}

/// Writes `record` to `path` whole ([`crate::file::replace`]).
///
/// # Errors
/// When the run directory cannot be written.
pub fn write<T: Serialize>(path: &Path, record: &T) -> Result<(), RecordError> {
    let error = |source| RecordError::Write {
        path: path.to_owned(),
        source,
    };
    let text = serde_json::to_vec_pretty(record).map_err(|e| error(io::Error::other(e)))?;
    crate::file::replace(path, &text, Some(0o644)).map_err(error)
}

/// Removes the record at `path`; true when there was one.
///
/// # Errors
/// When it exists and cannot be removed.
pub fn remove(path: &Path) -> Result<bool, RecordError> {
    match fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(source) => Err(RecordError::Write {
            path: path.to_owned(),
            source,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_deadline_is_never_sooner_than_its_window() {
        let secs = Duration::from_secs;
        assert_eq!(deadline_after(secs(100), secs(3)), 103);
        // Late in a second: rounding down would leave a window of 2.01 s.
        assert_eq!(deadline_after(Duration::from_millis(100_990), secs(3)), 104);
        assert_eq!(
            deadline_after(Duration::from_nanos(100_000_000_001), secs(3)),
            104
        );
        assert_eq!(deadline_after(Duration::MAX, secs(3)), u64::MAX);
    }

    #[test]
    fn a_record_reads_back_as_written() {
        let dir = std::env::temp_dir().join(format!("fwxdp-confirm-{}", std::process::id()));
        let root = PinRoot::new("/sys/fs/bpf/fwxdp");
        let running = Running {
            name: "eth0".into(),
            policy: Policy::parse_with_limits(&["22,80,5432@10.0.0.0/8,ip:esp"], &["22/tcp=4/60s"])
                .expect("valid"),
            mode: AttachMode::Tc,
            monitor: true,
            log_rate: 3,
        };
        let before = vec![
            Before {
                iface: "eth0".into(),
                state: Some(Saved::of(&running)),
            },
            Before {
                iface: "eth1".into(),
                state: None,
            },
        ];
        let mut pending = Pending::new("attach eth1".into(), &root, before, Duration::from_mins(1));
        pending.reverter = Some(Reverter::Process { pid: 42 });
        let path = pending_path(&dir, root.path());
        assert!(
            path.ends_with("confirm_sys_fs_bpf_fwxdp.json"),
            "{}",
            path.display()
        );
        write(&path, &pending).expect("write");
        let back: Pending = read(&path).expect("read").expect("there");
        assert_eq!(back, pending);
        let saved = back.before[0].state.as_ref().expect("attached");
        assert_eq!(saved.policy().expect("policy"), running.policy);
        assert!((59..=61).contains(&back.remaining()));
        assert!(remove(&path).expect("remove"));
        assert!(!remove(&path).expect("gone"));
        assert_eq!(read::<Pending>(&path).expect("none"), None);
        fs::write(&path, b"{").expect("garbage");
        assert!(matches!(
            read::<Pending>(&path),
            Err(RecordError::Garbled { .. })
        ));
        fs::remove_dir_all(&dir).expect("clean up");
    }
}
