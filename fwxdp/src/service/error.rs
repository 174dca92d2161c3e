//! Why the service could not start, or could not apply a config.

use std::io;

use super::config::ConfigError;
use crate::{
    attach::{AttachError, DetachError},
    iface::IfaceError,
    state::{LockError, PinError},
};

#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Iface(#[from] IfaceError),
    #[error(transparent)]
    Pins(#[from] PinError),
    #[error(transparent)]
    Lock(#[from] LockError),
    #[error("{iface}")]
    Attach {
        iface: String,
        source: Box<AttachError>,
    },
    #[error("{iface}")]
    Detach {
        iface: String,
        source: Box<DetachError>,
    },
    #[error("cannot listen for metrics on {listen}")]
    Listen {
        listen: std::net::SocketAddr,
        source: io::Error,
    },
    #[error("a blocking task of the service failed")]
    Task(#[from] tokio::task::JoinError),
}
