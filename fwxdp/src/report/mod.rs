//! What `status` and `stats` report: the pinned state of each attached interface, read on
//! its own so that one that cannot be read is an error beside the others, not instead of
//! them; and how the drop log reads ([`droplog`]).

pub mod droplog;
mod each;
pub mod stats;
pub mod status;

pub use each::{PerInterface, ReportError};
pub use stats::{InterfaceStats, stats};
pub use status::{InterfaceStatus, UnfilteredTunnel, status, unfiltered_tunnels};
