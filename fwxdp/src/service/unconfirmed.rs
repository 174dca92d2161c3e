//! A reload waiting for confirmation, and the records that say where it stands (the
//! service's part is in [`super::confirm`]).
//!
//! `fwxdp reload --confirm 60s`: the service applies the new file, and keeps it (as the
//! last good config) only once `fwxdp confirm` comes. At the deadline the service itself
//! puts every interface back as the record has it and goes back to the config in force
//! before. The change is recorded as any `--confirm` change is, with its reverter, so that
//! a service stopped or killed in the window is reverted too; and the file is marked
//! unconfirmed in the state directory before it is applied, so that a service started
//! again from the same file applies the last good config instead.

use std::{
    fs, io,
    path::{Path, PathBuf},
    sync::Arc,
};

use tracing::{error, warn};

use super::{config::ServiceConfig, last_good::LastGood};
use crate::{
    confirm::{self, Ended, Pending},
    state::PinRoot,
};

/// A reload applied and waiting for confirmation.
pub(super) struct Unconfirmed {
    /// Its record, as made (what to put back if the record is lost).
    pub(super) change: Pending,
    /// The config in force before, which the service goes back to.
    pub(super) previous: Arc<ServiceConfig>,
    /// The new config's text, kept as the last good one once confirmed.
    pub(super) text: String,
}

/// Where an unconfirmed reload stands.
pub(super) enum Standing {
    /// In its window.
    Waiting,
    /// Its deadline came, its reverter put it back, or its record was lost: the service
    /// goes back (putting the interfaces back itself unless its reverter did).
    Due,
    /// `fwxdp confirm` came.
    Confirmed,
}

/// The file in `state_dir` that holds the text of a config reloaded and not confirmed.
pub(super) fn marker(state_dir: &Path) -> PathBuf {
    state_dir.join("unconfirmed.toml")
}

/// Marks `text` as the config of a reload not confirmed (whole, flushed, before the
/// reload applies it).
pub(super) fn mark(state_dir: &Path, text: &str) -> io::Result<()> {
    crate::file::replace(&marker(state_dir), text.as_bytes(), Some(0o644))
}

/// Whether `text` is the config of a reload that was not confirmed.
pub(super) fn is_unconfirmed(state_dir: &Path, text: &str) -> bool {
    fs::read_to_string(marker(state_dir)).is_ok_and(|marked| marked == text)
}

/// Forgets that a file was reloaded unconfirmed (it was confirmed, or a later file
/// applied).
pub(super) fn clear_marker(state_dir: &Path) {
    let _: io::Result<()> = fs::remove_file(marker(state_dir));
}

/// Where `unconfirmed` stands, from the records in `run_dir`.
pub(super) fn standing(run_dir: &Path, root: &PinRoot, unconfirmed: &Unconfirmed) -> Standing {
    let id = &unconfirmed.change.id;
    match confirm::pending(run_dir, root) {
        Ok(Some(change)) if &change.id == id => {
            if change.remaining() == 0 {
                Standing::Due
            } else {
                Standing::Waiting
            }
        }
        // Unreadable: as waiting; the reverter still holds the deadline.
        Err(_) => Standing::Waiting,
        Ok(_) => match confirm::ended(run_dir, root, id) {
            Ended::Confirmed => Standing::Confirmed,
            Ended::Reverted | Ended::Unknown => Standing::Due,
        },
    }
}

/// Where the service's files are, as [`at_start`] needs them.
pub(super) struct Places<'a> {
    pub(super) config: &'a Path,
    pub(super) state_dir: &'a Path,
    pub(super) run_dir: &'a Path,
    pub(super) root: &'a PinRoot,
}

/// What the service starts with.
pub(super) struct Start {
    pub(super) text: String,
    pub(super) config: ServiceConfig,
    /// Whether to keep it as the last good config.
    pub(super) keep: bool,
    /// A reload still in its window (the service restarted within it).
    pub(super) unconfirmed: Option<Unconfirmed>,
}

/// The config to start with, given what a reload with `--confirm` left: a reload still in
/// its window goes on waiting (its file is not kept as last good); any other change the
/// service recorded is reverted now (its window ended while the service was down, or the
/// file changed since), and a file that was reloaded and never confirmed gives way to the
/// last good config.
pub(super) fn at_start(
    at: &Places<'_>,
    last_good: &LastGood,
    text: String,
    config: ServiceConfig,
    from_file: bool,
) -> Start {
    let marked = from_file && is_unconfirmed(at.state_dir, &text);
    let record = confirm::pending(at.run_dir, at.root)
        .ok()
        .flatten()
        .filter(|change| change.service.is_some());
    if let Some(change) = record {
        if marked
            && change.remaining() > 0
            && let Ok((_, previous)) = last_good.load()
        {
            warn!(
                "the config reloaded with --confirm still waits for confirmation ({} s \
                     left)",
                change.remaining()
            );
            return Start {
                text: text.clone(),
                config,
                keep: false,
                unconfirmed: Some(Unconfirmed {
                    change,
                    previous: Arc::new(previous),
                    text,
                }),
            };
        }
        revert_at_start(at, &change);
    }
    if marked && let Ok((good_text, good)) = last_good.load() {
        error!(
            "{} was reloaded with --confirm and never confirmed: applying the last good \
                 config ({}) instead; change the file and reload",
            at.config.display(),
            last_good.path().display()
        );
        return Start {
            text: good_text,
            config: good,
            keep: false,
            unconfirmed: None,
        };
    }
    Start {
        text,
        config,
        keep: from_file,
        unconfirmed: None,
    }
}

/// Puts back a reload the service recorded and will not wait for any more.
fn revert_at_start(at: &Places<'_>, change: &Pending) {
    let reverted = crate::state::StateLock::acquire()
        .map_err(|e| crate::error::chain(&e))
        .and_then(|_lock| {
            confirm::revert_now(at.run_dir, at.root, change).map_err(|e| crate::error::chain(&e))
        });
    match reverted {
        Ok(reverted) => error!(
            "`{}` was not confirmed: put back as it was before{}",
            reverted.what,
            if reverted.failed.is_empty() {
                String::new()
            } else {
                format!(", except: {}", reverted.failed.join("; "))
            }
        ),
        Err(e) => error!("`{}` could not be put back: {e}", change.what),
    }
}
