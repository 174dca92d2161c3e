//! Types, map names and constants shared by the fwxdp BPF programs and userspace.
//!
//! Everything here is plain `#[repr(C)]` data with fixed-width fields and explicit padding, so
//! the kernel and userspace agree on the layout byte for byte.
//!
//! One module per concept; everything is re-exported here, so both sides name a type
//! `fwxdp_common::Type`.
#![no_std]
#![expect(
    clippy::pub_underscore_fields,
    reason = "padding is explicit and must be writable by both sides to zero it"
)]

mod blocks;
mod config;
mod counters;
mod droplog;
mod flows;
mod limits;
mod links;
mod names;
mod policy;
mod proto;
#[cfg(feature = "user")]
mod user;

pub use blocks::*;
pub use config::*;
pub use counters::*;
pub use droplog::*;
pub use flows::*;
pub use limits::*;
pub use links::*;
pub use names::{map_name, program_name};
pub use policy::*;
pub use proto::*;
