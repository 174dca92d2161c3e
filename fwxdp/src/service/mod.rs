//! `fwxdp run`, the long-running service: its config file ([`config`]), the run loop
//! ([`daemon`]) that applies it all or nothing ([`apply`]) and runs the exporter
//! ([`exporter`]) and fails with [`error::DaemonError`], on a runtime that turns signals into events ([`runtime`]), logging for
//! journald ([`logging`]).

mod apply;
pub mod config;
pub mod daemon;
pub mod error;
mod exporter;
pub mod logging;
pub mod runtime;

pub use config::{ConfigError, ServiceConfig};
pub use daemon::{Event, run};
pub use error::DaemonError;
