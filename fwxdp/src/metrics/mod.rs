//! The Prometheus exporter: every scrape reads the pinned maps of every attached interface.
//!
//! [`serve`] takes its listener and shutdown signal from the caller, so `fwxdp metrics` and
//! the long-running service use it as it is.

mod encode;
mod series;
mod server;

pub use series::{DEFAULT_MAX_PORT_SERIES, Options, Unattached};
pub use server::{render, serve};
