//! What a command can fail with, and the exit code each failure gets.

use std::{io, net::SocketAddr, process::ExitCode};

use crate::{
    attach::{AttachError, DetachError},
    iface::IfaceError,
    policy::{PolicyError, lockout::LockoutError},
    report::ReportError,
    service::{ConfigError, DaemonError, runtime::RuntimeError},
    state::{LockError, PinError},
};

/// Bad input, named in the message: nothing was applied. Exit code 2, as clap gives its own
/// usage errors.
#[derive(Debug, thiserror::Error)]
pub enum UsageError {
    #[error(transparent)]
    Policy(#[from] PolicyError),
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    InterfaceName(IfaceError),
    #[error(transparent)]
    Lockout(#[from] LockoutError),
    #[error(transparent)]
    BlockLockout(#[from] crate::policy::lockout::BlockLockoutError),
    #[error("{0}")]
    Block(String),
    #[error("{0}")]
    Edit(String),
}

impl UsageError {
    /// The exit code of a usage error.
    pub const EXIT_CODE: u8 = 2;
}

/// Why a command failed.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error(transparent)]
    Usage(#[from] UsageError),
    #[error(
        "fwxdp must run as root: loading and attaching BPF programs needs CAP_BPF and \
         CAP_NET_ADMIN"
    )]
    NotRoot,
    #[error(transparent)]
    Interface(#[from] IfaceError),
    #[error("block signals")]
    BlockSignals(#[source] nix::Error),
    #[error(transparent)]
    Lock(#[from] LockError),
    #[error(transparent)]
    Pins(#[from] PinError),
    #[error("attach {iface}")]
    Attach {
        iface: String,
        source: Box<AttachError>,
    },
    #[error(transparent)]
    Detach(#[from] DetachError),
    #[error(transparent)]
    Report(#[from] ReportError),
    #[error(transparent)]
    Audit(#[from] crate::report::audit::AuditError),
    #[error("{iface} is not attached: `fwxdp attach {iface} --allow ...` first")]
    NotAttached { iface: String },
    #[error("{count} attached interface(s) could not be read")]
    Unreadable { count: usize },
    #[error("not filtered, though pinned: {names}")]
    Unfiltered { names: String },
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    #[error(transparent)]
    Service(DaemonError),
    #[error("listen on {listen}")]
    Listen {
        listen: SocketAddr,
        source: io::Error,
    },
    #[error("serve metrics")]
    Serve(#[source] io::Error),
    #[error(transparent)]
    Control(#[from] crate::service::control::ControlError),
    #[error("cannot write to standard output")]
    Output(#[source] io::Error),
    #[error(transparent)]
    Object(#[from] crate::attach::ObjectError),
    #[error(transparent)]
    Blocks(#[from] crate::state::BlocksError),
    #[error(transparent)]
    RunningState(#[from] crate::state::RunningError),
    #[error(
        "pinned but not filtered now: {names}. No config can say that: attach or detach \
         them first (`fwxdp status` says why each is not filtered)"
    )]
    SaveUnfiltered { names: String },
    #[error("cannot list this host's interfaces")]
    Links(#[source] crate::netlink::NetlinkError),
    #[error("save to {path}")]
    Save {
        path: std::path::PathBuf,
        source: crate::service::config::save::SaveError,
    },
    #[error("cannot write {path}")]
    Write {
        path: std::path::PathBuf,
        source: io::Error,
    },
    #[error("the running state differs from {path} in {count} way(s)")]
    Differs {
        path: std::path::PathBuf,
        count: usize,
    },
    #[error(transparent)]
    Confirm(#[from] crate::confirm::ConfirmError),
    #[error("no change waits for confirmation{}", .reverted.as_ref().map(|w| format!(": `{w}` was reverted when its window ended")).unwrap_or_default())]
    NothingToConfirm { reverted: Option<String> },
    #[error("read the drop log from the service")]
    LogService(#[source] io::Error),
}

impl From<crate::confirm::RecordError> for CliError {
    fn from(error: crate::confirm::RecordError) -> Self {
        Self::Confirm(error.into())
    }
}

impl From<DaemonError> for CliError {
    fn from(error: DaemonError) -> Self {
        match error {
            DaemonError::Config(config) => Self::Usage(UsageError::Config(config)),
            other => Self::Service(other),
        }
    }
}

impl CliError {
    /// 2 for bad input, 3 for a service that can filter nothing as things are, 1 for
    /// everything else.
    #[must_use]
    pub fn exit_code(&self) -> ExitCode {
        match self {
            Self::Usage(_) | Self::Confirm(crate::confirm::ConfirmError::Window { .. }) => {
                ExitCode::from(UsageError::EXIT_CODE)
            }
            Self::Service(DaemonError::NothingFiltered { .. }) => {
                ExitCode::from(crate::service::EXIT_CANNOT_FILTER)
            }
            _ => ExitCode::FAILURE,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_input_exits_2_and_the_rest_1() {
        let usage = CliError::from(UsageError::Policy(
            crate::policy::Policy::parse(&["0"]).unwrap_err(),
        ));
        assert_eq!(usage.exit_code(), ExitCode::from(2));
        let config = CliError::from(DaemonError::Config(ConfigError {
            path: "/etc/fwxdp/fwxdp.toml".into(),
            problems: Vec::new(),
        }));
        assert!(matches!(config, CliError::Usage(UsageError::Config(_))));
        assert_eq!(CliError::NotRoot.exit_code(), ExitCode::FAILURE);
        let nothing = CliError::from(DaemonError::NothingFiltered {
            failed: "eth0".into(),
        });
        assert_eq!(nothing.exit_code(), ExitCode::from(3));
    }
}
