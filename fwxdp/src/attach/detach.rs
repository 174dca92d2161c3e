//! Detaching: releasing an interface's pinned links (which detaches its programs) and
//! removing its pins.

use crate::{
    iface::{self, IfaceError},
    state::{PinError, PinRoot, PinnedInterface},
};

#[derive(Debug, thiserror::Error)]
pub enum DetachError {
    #[error("interface {iface} is not attached (no pins under {root})")]
    NotAttached { iface: String, root: String },
    #[error(transparent)]
    Pins(#[from] PinError),
    #[error(transparent)]
    Iface(#[from] IfaceError),
}

/// Detaches `iface`. The caller holds the [`crate::state::StateLock`].
pub fn detach(root: &PinRoot, iface: &str) -> Result<(), DetachError> {
    iface::check_name(iface)?;
    root.verify()?;
    // A filter a killed attach left in staging is attached too (status lists it).
    root.sweep_staging()?;
    let pinned = PinnedInterface::find(root, iface).ok_or_else(|| DetachError::NotAttached {
        iface: iface.to_owned(),
        root: root.path().display().to_string(),
    })?;
    Ok(pinned.remove()?)
}

/// Detaches every interface under `root`, returning their names. Also releases what an
/// attach killed midway left in a staging directory.
pub fn detach_all(root: &PinRoot) -> Result<Vec<String>, DetachError> {
    root.verify()?;
    root.sweep_staging()?;
    let mut names = Vec::new();
    for pinned in PinnedInterface::all(root)? {
        names.push(pinned.name().to_owned());
        pinned.remove()?;
    }
    Ok(names)
}
