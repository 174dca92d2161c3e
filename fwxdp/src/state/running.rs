//! What runs on each attached interface, read back from its pins: the state `save` writes,
//! `diff` compares and a revert puts back.

use fwxdp_common::CONFIG_VERSION;

use super::{maps::MapsError, pinned::PinnedInterface, pins::PinError, root::PinRoot};
use crate::{mode::AttachMode, policy::Policy};

/// One attached interface as it runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Running {
    pub name: String,
    pub policy: Policy,
    /// The mode in force (never `auto`).
    pub mode: AttachMode,
    pub monitor: bool,
    pub log_rate: u32,
}

#[derive(Debug, thiserror::Error)]
pub enum RunningError {
    #[error(transparent)]
    Pins(#[from] PinError),
    #[error("cannot read the running policy of {iface}")]
    Unreadable { iface: String, source: MapsError },
    #[error(
        "{iface}'s pins are of another layout ({found}; this fwxdp uses {CONFIG_VERSION}) and \
         are not read as this one's: `fwxdp attach {iface}` (or a restart of the service) \
         upgrades them with its filter in force, then try again"
    )]
    OtherLayout { iface: String, found: u8 },
}

impl Running {
    /// The interface `pinned` as it runs.
    ///
    /// # Errors
    /// When its maps cannot be read.
    pub fn of(pinned: &mut PinnedInterface) -> Result<Self, RunningError> {
        let iface = pinned.name().to_owned();
        let read = |source| RunningError::Unreadable {
            iface: iface.clone(),
            source,
        };
        // Maps of another layout could be read by type and mean something else.
        let found = pinned.layout().map_err(read)?.version;
        if found != CONFIG_VERSION {
            return Err(RunningError::OtherLayout { iface, found });
        }
        let config = pinned.config().map_err(read)?;
        let policy = pinned.policy(config.generation).map_err(read)?;
        Ok(Self {
            name: iface.clone(),
            policy,
            // A mode the pins cannot say (never written so) is attached afresh as auto.
            mode: AttachMode::from_raw(config.mode).unwrap_or_default(),
            monitor: config.monitor(),
            log_rate: config.log_rate,
        })
    }

    /// Every interface attached under `root`. One that cannot be read fails the whole, so
    /// that nothing is built from half the state.
    ///
    /// # Errors
    /// When the pin root or an interface's maps cannot be read.
    pub fn all(root: &PinRoot) -> Result<Vec<Self>, RunningError> {
        PinnedInterface::all(root)?
            .iter_mut()
            .map(Self::of)
            .collect()
    }

    /// The interface `name` as it runs under `root`; `None` when it is not attached.
    ///
    /// # Errors
    /// When its maps cannot be read.
    pub fn find(root: &PinRoot, name: &str) -> Result<Option<Self>, RunningError> {
        PinnedInterface::find(root, name)
            .as_mut()
            .map(Self::of)
            .transpose()
    }
}
