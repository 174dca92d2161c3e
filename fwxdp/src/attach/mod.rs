//! Attaching the filter to an interface, or replacing its policy in place; and detaching.
//!
//! - [`request`]: what an attach is asked, what it did, how it fails.
//! - [`framing`]: where an interface's frames begin (Ethernet or IP), or why it is refused.
//! - [`object`]: the embedded BPF object and one loaded instance of it.
//! - [`spares`]: instances verified ahead of need, so that attaching costs only pins and hooks.
//! - [`staging`]: a fresh attach, built in a staging directory and renamed into place only
//!   when the programs are attached, so a failure leaves nothing behind.
//! - [`replace`]: a new policy for an attached interface, written into the inactive
//!   generation and switched to in one map update.
//! - [`switch`] and [`hook`]: the ingress link placed in a mode, and moved between modes with
//!   no unfiltered moment.
//! - [`upgrade`]: pins of another layout taken over, link by link, with no unfiltered
//!   moment.
//! - [`detach`]: the way back.
//! - [`blocks`]: the blocklist every interface of the pin root shares.

pub mod blocks;
pub mod detach;
pub mod framing;
pub mod hook;
pub mod object;
pub mod replace;
pub mod request;
pub mod spares;
pub mod staging;
pub mod switch;
pub mod upgrade;

use fwxdp_common::CONFIG_VERSION;

pub use detach::{DetachError, detach, detach_all};
pub use object::{Loaded, OBJECT_DIGEST, ObjectError, Spare};
pub use request::{AttachError, Outcome, Request};
pub use spares::Spares;
pub use switch::SwitchError;

use crate::{
    iface,
    state::{Filtering, PinRoot, PinnedInterface},
};

/// Attaches `request.iface`, or replaces its policy if it is attached already.
///
/// The caller holds the [`crate::state::StateLock`].
pub fn attach(root: &PinRoot, request: &Request<'_>) -> Result<Outcome, AttachError> {
    let ifindex = iface::filterable_index(request.iface)?;
    // Before anything else: a device whose frames the parser cannot read would be filtered
    // in name only.
    let framing = framing::of(ifindex, request.iface)?;
    root.ensure()?;
    // First: a filter a killed attach left whole is taken over, the rest removed; an
    // upgrade it left midway is finished.
    root.sweep_staging()?;
    upgrade::finish(root, request.iface)?;
    let mut upgraded_from = None;
    if let Some(mut pinned) = PinnedInterface::find(root, request.iface) {
        let unreadable = |source| AttachError::Unreadable {
            iface: request.iface.to_owned(),
            source,
        };
        // Any doubt leaves the old filter in force: never open ports to start afresh.
        let layout = pinned.layout().map_err(unreadable)?;
        if layout.version != CONFIG_VERSION {
            upgrade::upgrade(root, request, layout, framing)?;
            upgraded_from = Some(layout.version);
            pinned =
                PinnedInterface::find(root, request.iface).ok_or_else(|| AttachError::Commit {
                    path: root.iface_dir(request.iface).path().to_owned(),
                    source: std::io::ErrorKind::NotFound.into(),
                })?;
        }
        let config = pinned.config().map_err(unreadable)?;
        replace::repair_interrupted_switch(&mut pinned, config)?;
        match pinned.filtering() {
            Filtering::Yes => {
                let outcome = replace::replace(&mut pinned, request)?;
                return Ok(Outcome {
                    upgraded_from,
                    ..outcome
                });
            }
            Filtering::Unknown(why) => {
                return Err(AttachError::Unverifiable {
                    iface: request.iface.to_owned(),
                    why,
                });
            }
            // Removing these pins would open the device they filter.
            Filtering::Renamed { ifindex } | Filtering::Elsewhere { ifindex } => {
                return Err(AttachError::Elsewhere {
                    iface: request.iface.to_owned(),
                    ifindex,
                });
            }
            // The pins belong to an interface that was deleted (this one has another index),
            // or their program was detached behind fwxdp's back: nothing filters with them.
            Filtering::InterfaceGone | Filtering::Recreated { .. } | Filtering::Detached => {}
        }
        pinned.remove()?;
    }
    staging::fresh(root, request, ifindex, framing)
}
