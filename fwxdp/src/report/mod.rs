//! What `status` and `stats` report: the pinned state of each attached interface, read on
//! its own so that one that cannot be read is an error beside the others, not instead of
//! them; how the drop log reads ([`droplog`]); and `audit`, what reaches each listening
//! port ([`audit`], with the ports NAT publishes from [`nat`]).

pub mod audit;
pub mod droplog;
mod each;
pub mod nat;
pub mod stats;
pub mod status;

pub use each::{PerInterface, ReportError};
pub use stats::{InterfaceStats, stats};
pub use status::{InterfaceStatus, UnfilteredTunnel, status, unfiltered_tunnels};
