//! Why the service could not start, or could not apply a config.

use std::io;

use super::config::ConfigError;
use crate::{
    attach::{AttachError, DetachError},
    iface::IfaceError,
    state::{LockError, PinError},
};

/// The exit code of a start that can never succeed as things are (a bad config is exit 2,
/// as usage errors): systemd's `RestartPreventExitStatus` lists both, so there is no
/// restart loop.
pub const EXIT_CANNOT_FILTER: u8 = 3;

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
    #[error(transparent)]
    Netlink(#[from] crate::netlink::NetlinkError),
    #[error("no interface could be attached: {failed} stay unfiltered")]
    NothingFiltered { failed: String },
}
