//! `fwxdp status`: what is attached where, read back from the pinned maps.

use std::time::{Duration, UNIX_EPOCH};

use aya::programs::links::{FdLink, PinnedLink};
use fwxdp_common::{AttachMode, CONFIG_MONITOR};
use serde::Serialize;

use crate::{
    iface,
    maps::{MapsError, PolicyMaps, Source},
    pins::{PinError, PinRoot, name},
};

/// The state of one attached interface.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct InterfaceStatus {
    pub interface: String,
    /// `native`, `generic` or `tc`.
    pub mode: &'static str,
    /// The allow list in force, as canonical spec items.
    pub allow: Vec<String>,
    pub monitor: bool,
    /// First attach time, seconds since the Unix epoch.
    pub attached_at: u64,
    /// The same time in RFC 3339, UTC.
    pub attached_at_utc: String,
    /// The kernel's id of the ingress program.
    pub program_id: Option<u32>,
    pub ifindex: u32,
    /// False when the interface the pins belong to no longer exists.
    pub present: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum StatusError {
    #[error(transparent)]
    Pins(#[from] PinError),
    #[error("{iface}")]
    Maps { iface: String, source: MapsError },
}

/// One interface's status, or why it could not be read.
pub type PerInterface = (String, Result<InterfaceStatus, StatusError>);

/// Reads the status of every interface under `root`, each on its own: one that cannot be
/// read is an error beside the others, not instead of them.
pub fn status(root: &PinRoot) -> Result<Vec<PerInterface>, StatusError> {
    root.verify()?;
    Ok(root
        .interfaces()?
        .into_iter()
        .map(|iface| {
            let status = interface_status(root, &iface);
            (iface, status)
        })
        .collect())
}

/// Reads the status of one attached interface.
pub fn interface_status(root: &PinRoot, iface: &str) -> Result<InterfaceStatus, StatusError> {
    let dir = root.iface_dir(iface);
    let with_iface = |source| StatusError::Maps {
        iface: iface.to_owned(),
        source,
    };
    let maps = PolicyMaps::open(&mut Source::Pinned(&dir)).map_err(with_iface)?;
    let config = maps.config().map_err(with_iface)?;
    let policy = maps.read_policy(config.generation).map_err(with_iface)?;
    // The program the ingress link runs: the truth about what filters.
    let program_id = PinnedLink::from_pin(dir.join(name::LINK_INGRESS))
        .ok()
        .and_then(|pinned| FdLink::from(pinned).info().ok())
        .map(|info| info.program_id());
    Ok(InterfaceStatus {
        interface: iface.to_owned(),
        mode: AttachMode::from_raw(config.mode).map_or("unknown", AttachMode::name),
        allow: policy.to_specs(),
        monitor: config.flags & CONFIG_MONITOR != 0,
        attached_at: config.attached_at,
        attached_at_utc: humantime::format_rfc3339_seconds(
            UNIX_EPOCH + Duration::from_secs(config.attached_at),
        )
        .to_string(),
        program_id,
        ifindex: config.ifindex,
        present: iface::index(iface) == Some(config.ifindex),
    })
}
