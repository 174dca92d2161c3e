//! `fwxdp run`, the long-running service: its config file ([`config`]) and the last good
//! copy of it ([`last_good`]), the run loop ([`daemon`]) that applies it ([`apply`]),
//! follows the kernel's interface events ([`follow`]), answers reloads ([`control`]) that would not cut
//! off an SSH session ([`ssh_guard`]), with a window for `fwxdp confirm` ([`confirm`],
//! [`unconfirmed`]), runs the exporter ([`exporter`]), tells systemd
//! without ever waiting on it ([`notify`]) and fails with [`error::DaemonError`]; a runtime
//! that turns signals into events ([`runtime`]), logging for journald ([`logging`]), and
//! the drop log it writes there and serves to `fwxdp log` ([`droplog`]).

mod apply;
pub mod config;
mod confirm;
pub mod control;
pub mod daemon;
pub mod droplog;
pub mod error;
mod exporter;
mod follow;
pub mod last_good;
pub mod logging;
mod notify;
pub mod runtime;
mod ssh_guard;
mod unconfirmed;

pub use config::{ConfigError, ServiceConfig};
pub use daemon::{Event, Settings, run};
pub use error::{DaemonError, EXIT_CANNOT_FILTER};
