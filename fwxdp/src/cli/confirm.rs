//! `--confirm` on the commands that change a policy, `fwxdp confirm`, and the revert that
//! the timer or process arranged by `--confirm` runs.

use std::path::Path;

use super::{error::CliError, process::require_root};
use crate::{
    confirm::{self, Pending},
    state::{PinRoot, StateLock},
};

/// Under the state lock, before a command reads the state it changes: a change whose
/// window ended without its reverter coming is reverted first.
pub(super) fn settle(root: &PinRoot, run_dir: &Path) -> Result<(), CliError> {
    if let Some(reverted) = confirm::settle_overdue(run_dir, root)? {
        say!(
            "reverted `{}`: its confirmation window had ended{}",
            reverted.what,
            failures(&reverted.failed)
        );
    }
    Ok(())
}

/// Under the state lock, before a change to `ifaces` with a `window` (after [`settle`]):
/// records what they are now and arranges their revert. Nothing to record when no
/// interface is named.
pub(super) fn begin(
    root: &PinRoot,
    run_dir: &Path,
    ifaces: &[String],
    window: Option<humantime::Duration>,
) -> Result<Option<Pending>, CliError> {
    let Some(window) = window else {
        return Ok(None);
    };
    if ifaces.is_empty() {
        return Ok(None);
    }
    let what = std::env::args_os()
        .skip(1)
        .map(|a| a.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ");
    Ok(Some(confirm::begin(
        run_dir,
        root,
        ifaces,
        window.into(),
        what,
        None,
    )?))
}

/// After the change: what reverts, when, and how to keep it.
pub(super) fn announce(change: Option<&Pending>) {
    let Some(change) = change else {
        return;
    };
    let names: Vec<&str> = change.before.iter().map(|b| b.iface.as_str()).collect();
    say!(
        "this change reverts in {} s ({} as it was before) unless `fwxdp confirm` comes first",
        change.remaining(),
        names.join(", ")
    );
}

/// The change failed halfway: what it already changed goes back now.
pub(super) fn abandon(root: &PinRoot, run_dir: &Path, change: Option<&Pending>) {
    let Some(change) = change else {
        return;
    };
    match confirm::revert_now(run_dir, root, change) {
        Ok(reverted) => say!(
            "the change failed: put back as it was before{}",
            failures(&reverted.failed)
        ),
        Err(e) => eprintln!(
            "fwxdp: the change failed, and its revert could not be recorded: {}",
            crate::error::chain(&e)
        ),
    }
}

/// `fwxdp confirm`.
pub(super) fn keep(root: &PinRoot, run_dir: &Path) -> Result<(), CliError> {
    require_root()?;
    let _lock = StateLock::acquire()?;
    if let Some(change) = confirm::confirm(run_dir, root)? {
        say!("confirmed: `{}` stays", change.what);
        return Ok(());
    }
    let reverted = confirm::last_reverted(run_dir, root)?;
    Err(CliError::NothingToConfirm {
        reverted: reverted.map(|r| r.what),
    })
}

/// `fwxdp revert-pending --id ID`: waits for the deadline of the change `id`, and reverts
/// it unless it was confirmed meanwhile.
pub(super) fn revert_pending(
    root: &PinRoot,
    run_dir: &Path,
    id: &str,
    deadline: u64,
) -> Result<(), CliError> {
    require_root()?;
    let Some(seen) = confirm::due(run_dir, root, id, deadline)? else {
        return Ok(());
    };
    let _lock = StateLock::acquire()?;
    // A revert begun finishes: a confirmation, or a service stopping this process, after
    // the lock is taken would leave the interfaces half put back.
    super::process::hold_signals()?;
    // Again under the lock: a confirmation may have come while it was taken.
    let change = match confirm::pending(run_dir, root)? {
        Some(change) if change.id == id => change,
        // Gone without a word: lost, and put back from what was read.
        None if confirm::ended(run_dir, root, id) == confirm::Ended::Unknown => seen,
        // Replaced by another change, or ended.
        Some(_) | None => return Ok(()),
    };
    let reverted = confirm::revert_now(run_dir, root, &change)?;
    eprintln!(
        "fwxdp: `{}` was not confirmed in time: reverted{}",
        reverted.what,
        failures(&reverted.failed)
    );
    Ok(())
}

fn failures(failed: &[String]) -> String {
    if failed.is_empty() {
        String::new()
    } else {
        format!(", except: {}", failed.join("; "))
    }
}
