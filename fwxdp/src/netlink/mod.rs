//! The kernel's netlink (routing, and `sock_diag` for sockets), for what `if_nametoindex` and aya do not tell: every
//! interface and the events that create, rename and delete them; the TC filters on an
//! interface and the programs they run.
//!
//! - [`links`]: the interfaces now, and a stream of their changes.
//! - [`filters`]: the `cls_bpf` filters of a clsact qdisc.
//! - [`sockets`]: the sockets that wait for others (`sock_diag`).

mod error;
pub mod filters;
pub mod links;
mod socket;
pub mod sockets;

pub use error::NetlinkError;
pub use links::{Link, LinkEvent, LinkEvents};
