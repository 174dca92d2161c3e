//! Detaching: releasing the pinned links (which detaches the programs) and removing the pins.

use std::{io, path::Path};

use aya::{
    programs::links::{LinkError, PinnedLink},
    sys::SyscallError,
};

use crate::{
    iface::{self, IfaceError},
    pins::{self, PinError, PinRoot, name},
};

#[derive(Debug, thiserror::Error)]
pub enum DetachError {
    #[error("interface {iface} is not attached (no pins under {root})")]
    NotAttached { iface: String, root: String },
    #[error("cannot release link {path}")]
    Link { path: String, source: io::Error },
    #[error("cannot open link {path}")]
    OpenLink { path: String, source: LinkError },
    #[error(transparent)]
    Pins(#[from] PinError),
    #[error(transparent)]
    Iface(#[from] IfaceError),
}

/// Detaches `iface`. The caller holds the [`crate::lock::StateLock`].
pub fn detach(root: &PinRoot, iface: &str) -> Result<(), DetachError> {
    iface::check_name(iface)?;
    root.verify()?;
    let dir = root.iface_dir(iface);
    if !dir.is_dir() {
        return Err(DetachError::NotAttached {
            iface: iface.to_owned(),
            root: root.path().display().to_string(),
        });
    }
    remove_pins(&dir)
}

/// Detaches every interface under `root`, returning their names. Also releases what an
/// attach killed midway left in a staging directory.
pub fn detach_all(root: &PinRoot) -> Result<Vec<String>, DetachError> {
    root.verify()?;
    for dir in root.staging_dirs() {
        remove_pins(&dir)?;
    }
    let ifaces = root.interfaces()?;
    for iface in &ifaces {
        detach(root, iface)?;
    }
    Ok(ifaces)
}

/// Releases the links pinned in `dir`, then removes the directory. The links go first, so
/// a failure leaves the filter attached rather than half-removed.
pub(crate) fn remove_pins(dir: &Path) -> Result<(), DetachError> {
    for link in [name::LINK_INGRESS, name::LINK_BRIDGE, name::LINK_EGRESS] {
        release_link(&dir.join(link))?;
    }
    Ok(pins::remove_dir(dir)?)
}

/// Unpins the link at `path` and drops it, which detaches its program unless something else
/// holds the link. A missing pin is not an error.
pub(crate) fn release_link(path: &Path) -> Result<(), DetachError> {
    match PinnedLink::from_pin(path) {
        // Dropping the last reference to the link detaches its program.
        Ok(pinned) => {
            drop(pinned.unpin().map_err(|source| DetachError::Link {
                path: path.display().to_string(),
                source,
            })?);
            Ok(())
        }
        Err(LinkError::SyscallError(SyscallError { io_error, .. }))
            if io_error.kind() == io::ErrorKind::NotFound =>
        {
            Ok(())
        }
        Err(source) => Err(DetachError::OpenLink {
            path: path.display().to_string(),
            source,
        }),
    }
}
