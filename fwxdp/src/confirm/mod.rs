//! Confirm or revert (`--confirm 60s`, as `iptables-apply` and `firewall-cmd --timeout`): a
//! change made with a window is put back exactly as it was (policy, mode, monitor flag, log
//! rate; attached or not; blocks untouched) unless `fwxdp confirm` comes within it.
//!
//! - [`record`]: the record of the change waiting, in the run directory.
//! - [`reverter`]: what carries out the revert when nobody is left to (a systemd timer, or
//!   a process of its own session).
//! - [`revert`]: putting each interface back.
//!
//! Every function here expects the caller to hold the [`StateLock`](crate::state::StateLock).

pub mod record;
pub mod revert;
pub mod reverter;

use std::{path::Path, time::Duration};

pub use record::{
    Before, Confirmed, Pending, RecordError, Reverted, Reverter, Saved, ServiceReload,
};
pub use reverter::ReverterError;

use crate::state::{PinRoot, Running, RunningError};

/// How long past its deadline a change may wait for its reverter before any fwxdp command
/// that changes something reverts it itself (the reverter was killed, or the host slept).
const GRACE: u64 = 5;

#[derive(Debug, thiserror::Error)]
pub enum ConfirmError {
    #[error(transparent)]
    Record(#[from] RecordError),
    #[error(transparent)]
    Reverter(#[from] ReverterError),
    #[error(transparent)]
    Running(#[from] RunningError),
    #[error(
        "a confirmation window of {} is not between 1 s and 24 h",
        humantime::format_duration(*window)
    )]
    Window { window: Duration },
    #[error(
        "`{what}` waits for confirmation ({remaining} s left): `fwxdp confirm` it, or let it \
         revert, before another change with --confirm"
    )]
    Waiting { what: String, remaining: u64 },
}

/// The change waiting under `root`, if any.
///
/// # Errors
/// When its record cannot be read.
pub fn pending(run_dir: &Path, root: &PinRoot) -> Result<Option<Pending>, RecordError> {
    record::read(&record::pending_path(run_dir, root.path()))
}

/// The last change under `root` that was reverted unconfirmed, if any.
///
/// # Errors
/// When its record cannot be read.
pub fn last_reverted(run_dir: &Path, root: &PinRoot) -> Result<Option<Reverted>, RecordError> {
    record::read(&record::reverted_path(run_dir, root.path()))
}

/// Before a change to `ifaces` with a `window`: records what they are now and arranges the
/// revert, before anything changes (so a command killed halfway is reverted too).
///
/// # Errors
/// When another change waits, or the state, the record or the reverter fails.
pub fn begin(
    run_dir: &Path,
    root: &PinRoot,
    ifaces: &[String],
    window: Duration,
    what: String,
    service: Option<ServiceReload>,
) -> Result<Pending, ConfirmError> {
    if window.is_zero() || window > record::MAX_WINDOW {
        return Err(ConfirmError::Window { window });
    }
    if let Some(waiting) = pending(run_dir, root)? {
        return Err(ConfirmError::Waiting {
            what: waiting.what.clone(),
            remaining: waiting.remaining(),
        });
    }
    let mut before = Vec::new();
    for iface in ifaces {
        before.push(Before {
            iface: iface.clone(),
            state: Running::find(root, iface)?.as_ref().map(Saved::of),
        });
    }
    let mut change = Pending::new(what, root, before, window);
    change.service = service;
    // The reverter first, then the record, then (by the caller) the change: killed at any
    // point, nothing is changed that no reverter will put back. A reverter that finds no
    // record at its deadline has nothing to do.
    let reverter = reverter::arrange(&change, run_dir)?;
    change.reverter = Some(reverter);
    let path = record::pending_path(run_dir, root.path());
    if let Err(e) = record::write(&path, &change) {
        reverter::cancel(&change);
        return Err(e.into());
    }
    Ok(change)
}

/// Puts back what `change` changed now (its deadline came, or the change failed halfway),
/// and ends it. Returns what was reverted.
///
/// # Errors
/// When the records cannot be written; the interfaces are put back regardless.
pub fn revert_now(
    run_dir: &Path,
    root: &PinRoot,
    change: &Pending,
) -> Result<Reverted, RecordError> {
    let failed = revert::restore(root, &change.before);
    end(run_dir, root, change, failed)
}

/// Ends `change` as reverted (by whoever put it back, with the interfaces that could not
/// be): the record of the revert replaces the change's, and its reverter is stopped.
///
/// # Errors
/// When the records cannot be written.
pub fn end(
    run_dir: &Path,
    root: &PinRoot,
    change: &Pending,
    failed: Vec<String>,
) -> Result<Reverted, RecordError> {
    let reverted = Reverted {
        id: change.id.clone(),
        what: change.what.clone(),
        at: record::now(),
        failed,
    };
    record::write(&record::reverted_path(run_dir, root.path()), &reverted)?;
    record::remove(&record::pending_path(run_dir, root.path()))?;
    reverter::cancel(change);
    Ok(reverted)
}

/// Keeps the change waiting under `root`: `Ok(None)` when none waits. What it leaves
/// behind says the change was confirmed, so that a reverter that finds the record gone
/// tells a confirmation from a lost record.
///
/// # Errors
/// When its record cannot be read or removed.
pub fn confirm(run_dir: &Path, root: &PinRoot) -> Result<Option<Pending>, RecordError> {
    let Some(change) = pending(run_dir, root)? else {
        return Ok(None);
    };
    record::write(
        &record::confirmed_path(run_dir, root.path()),
        &Confirmed {
            id: change.id.clone(),
        },
    )?;
    record::remove(&record::pending_path(run_dir, root.path()))?;
    reverter::cancel(&change);
    Ok(Some(change))
}

/// How the change `id`, whose record is gone, ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ended {
    Confirmed,
    Reverted,
    /// Neither says so: the record was lost (the run directory wiped).
    Unknown,
}

/// How the change `id` ended, once its record is gone.
#[must_use]
pub fn ended(run_dir: &Path, root: &PinRoot, id: &str) -> Ended {
    let confirmed: Option<Confirmed> = record::read(&record::confirmed_path(run_dir, root.path()))
        .ok()
        .flatten();
    if confirmed.is_some_and(|c| c.id == id) {
        return Ended::Confirmed;
    }
    if last_reverted(run_dir, root)
        .ok()
        .flatten()
        .is_some_and(|r| r.id == id)
    {
        return Ended::Reverted;
    }
    Ended::Unknown
}

/// Reverts the change waiting under `root` if its deadline passed more than a grace
/// period ago (its reverter did not come). Every command that changes something calls it
/// first, under the lock, before it reads the state it changes.
///
/// # Errors
/// When the records cannot be read or written.
pub fn settle_overdue(run_dir: &Path, root: &PinRoot) -> Result<Option<Reverted>, RecordError> {
    match pending(run_dir, root)? {
        Some(change) if record::boot_now() > change.deadline.saturating_add(GRACE) => {
            revert_now(run_dir, root, &change).map(Some)
        }
        _ => Ok(None),
    }
}

/// Sleeps until `deadline` (boot-time seconds), the deadline of the change `id`, unless
/// it is confirmed or replaced first. Returns the change to revert then: its record as it
/// is, or as it was last read if it vanished without being confirmed or reverted.
///
/// # Errors
/// When its record cannot be read.
pub fn due(
    run_dir: &Path,
    root: &PinRoot,
    id: &str,
    deadline: u64,
) -> Result<Option<Pending>, RecordError> {
    let mut seen: Option<Pending> = None;
    loop {
        match pending(run_dir, root)? {
            Some(change) if change.id == id => seen = Some(change),
            // Another change's record: this one was ended and replaced.
            Some(_) => return Ok(None),
            // Seen and ended (a lost record is still reverted, from what was read).
            None if seen.is_some() && ended(run_dir, root, id) != Ended::Unknown => {
                return Ok(None);
            }
            None => {}
        }
        let left = Duration::from_secs(deadline).saturating_sub(record::boot_clock());
        if left.is_zero() {
            return Ok(seen);
        }
        // A second at a time: a confirmation ends the wait within one.
        std::thread::sleep(left.min(Duration::from_secs(1)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_gone_is_confirmed_reverted_or_lost() {
        let dir = std::env::temp_dir().join(format!("fwxdp-ended-{}", std::process::id()));
        let root = PinRoot::new("/sys/fs/bpf/fwxdp-test-ended");
        let path = record::pending_path(&dir, root.path());
        let made =
            |what: &str| Pending::new(what.into(), &root, Vec::new(), Duration::from_secs(30));
        let kept = made("kept");
        record::write(&path, &kept).expect("write");
        assert_eq!(
            confirm(&dir, &root).expect("confirm").map(|c| c.id),
            Some(kept.id.clone())
        );
        assert_eq!(ended(&dir, &root, &kept.id), Ended::Confirmed);
        let undone = made("undone");
        record::write(&path, &undone).expect("write");
        end(&dir, &root, &undone, Vec::new()).expect("end");
        assert_eq!(ended(&dir, &root, &undone.id), Ended::Reverted);
        assert_eq!(ended(&dir, &root, "someone-else"), Ended::Unknown);
        // Neither overdue nor waiting: nothing to settle.
        assert_eq!(settle_overdue(&dir, &root).expect("settle"), None);
        assert!(matches!(
            begin(&dir, &root, &[], Duration::ZERO, "x".into(), None),
            Err(ConfirmError::Window { .. })
        ));
        std::fs::remove_dir_all(&dir).expect("clean up");
    }
}
