//! A reload waiting for confirmation, and the records that say where it stands (the
//! service's part is in [`super::confirm`]).
//!
//! `fwxdp reload --confirm 60s`: the service applies the new file, and keeps it (as the
//! last good config) only once `fwxdp confirm` comes. At the deadline the service itself
//! goes back to the config in force before. The change is recorded as any `--confirm`
//! change is, with its reverter, so that a service killed in the window is reverted too;
//! and the file stays marked unconfirmed in the state directory, so that a service started
//! again (systemd restarts it) from the same file applies the last good config instead.

use std::{
    fs,
    path::{Path, PathBuf},
    sync::Arc,
};

use tracing::{error, warn};

use super::{config::ServiceConfig, last_good::LastGood};
use crate::{
    confirm::{self, Pending},
    state::PinRoot,
};

/// A reload applied and waiting for confirmation.
pub(super) struct Unconfirmed {
    pub(super) id: String,
    /// The config in force before, which the service goes back to.
    pub(super) previous: Arc<ServiceConfig>,
    /// The new config's text, kept as the last good one once confirmed.
    pub(super) text: String,
}

/// Where an unconfirmed reload stands.
pub(super) enum Standing {
    /// In its window.
    Waiting,
    /// Its deadline came: the service reverts it.
    Due(Pending),
    /// `fwxdp confirm` came.
    Confirmed,
    /// Its reverter put the interfaces back already (the service was slow or stopped).
    RevertedElsewhere,
}

/// The file in `state_dir` that holds the text of a config reloaded and not confirmed.
pub(super) fn marker(state_dir: &Path) -> PathBuf {
    state_dir.join("unconfirmed.toml")
}

/// Whether `text` is the config of a reload that was not confirmed.
pub(super) fn is_unconfirmed(state_dir: &Path, text: &str) -> bool {
    fs::read_to_string(marker(state_dir)).is_ok_and(|marked| marked == text)
}

/// Where `unconfirmed` stands, from the records in `run_dir`.
pub(super) fn standing(run_dir: &Path, root: &PinRoot, unconfirmed: &Unconfirmed) -> Standing {
    match confirm::pending(run_dir, root) {
        Ok(Some(change)) if change.id == unconfirmed.id => {
            if change.remaining() == 0 {
                Standing::Due(change)
            } else {
                Standing::Waiting
            }
        }
        // Unreadable: as waiting; the reverter still holds the deadline.
        Err(_) => Standing::Waiting,
        Ok(_) => {
            let reverted = confirm::last_reverted(run_dir, root)
                .ok()
                .flatten()
                .is_some_and(|r| r.id == unconfirmed.id);
            if reverted {
                Standing::RevertedElsewhere
            } else {
                Standing::Confirmed
            }
        }
    }
}

/// Where the service's files are, as [`at_start`] needs them.
pub(super) struct Places<'a> {
    pub(super) config: &'a Path,
    pub(super) state_dir: &'a Path,
    pub(super) run_dir: &'a Path,
    pub(super) root: &'a PinRoot,
}

/// The config to start with when the file is a reload that was not confirmed: the last
/// good config instead, unless the window is still open (the service restarted within it),
/// in which case the reload goes on waiting.
pub(super) fn at_start(
    at: &Places<'_>,
    last_good: &LastGood,
    text: String,
    config: ServiceConfig,
    from_file: bool,
) -> (String, ServiceConfig, bool, Option<Unconfirmed>) {
    if !from_file || !is_unconfirmed(at.state_dir, &text) {
        return (text, config, from_file, None);
    }
    let waiting = confirm::pending(at.run_dir, at.root)
        .ok()
        .flatten()
        .filter(|change| change.service.is_some() && change.remaining() > 0);
    match (waiting, last_good.load()) {
        (Some(change), Ok((_, previous))) => {
            warn!(
                "the config reloaded with --confirm still waits for confirmation ({} s left)",
                change.remaining()
            );
            let unconfirmed = Unconfirmed {
                id: change.id,
                previous: Arc::new(previous),
                text: text.clone(),
            };
            (text, config, true, Some(unconfirmed))
        }
        (None, Ok((good_text, good))) => {
            error!(
                "{} was reloaded with --confirm and never confirmed: applying the last good \
                 config ({}) instead; change the file and reload",
                at.config.display(),
                last_good.path().display()
            );
            (good_text, good, false, None)
        }
        (_, Err(_)) => (text, config, from_file, None),
    }
}

/// Forgets that a file was reloaded unconfirmed (a later file was applied, or it was
/// confirmed).
pub(super) fn clear_marker(state_dir: &Path) {
    let _: std::io::Result<()> = fs::remove_file(marker(state_dir));
}
