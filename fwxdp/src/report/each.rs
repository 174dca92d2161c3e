//! Reading every attached interface on its own, so that one that cannot be read is an error
//! beside the others, not instead of them.

use crate::state::{MapsError, PinError, PinnedInterface};

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error(transparent)]
    Pins(#[from] PinError),
    #[error("interface {iface} is not attached")]
    NotAttached { iface: String },
    #[error("{iface}")]
    Read { iface: String, source: MapsError },
}

/// One interface's report, or why it could not be read.
pub type PerInterface<T> = (String, Result<T, ReportError>);

/// Reads each of `interfaces` with `read`, naming the interface in each error.
pub(super) fn read<T>(
    interfaces: Vec<PinnedInterface>,
    read: impl Fn(&mut PinnedInterface) -> Result<T, MapsError>,
) -> Vec<PerInterface<T>> {
    interfaces
        .into_iter()
        .map(|mut pinned| {
            let name = pinned.name().to_owned();
            let report = read(&mut pinned).map_err(|source| ReportError::Read {
                iface: name.clone(),
                source,
            });
            (name, report)
        })
        .collect()
}
