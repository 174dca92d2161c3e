//! What a validated config is, and what can be wrong with a file.

use std::{
    fmt,
    net::SocketAddr,
    path::{Path, PathBuf},
};

use super::names::NamePattern;
use crate::{mode::AttachMode, policy::Policy};

/// The largest config file read; a real one is a few hundred bytes.
pub const MAX_FILE_BYTES: u64 = 1 << 20;
/// The most `[[interface]]` tables a config may have.
pub const MAX_INTERFACES: usize = 1024;

/// Where the service looks for its config unless told otherwise.
pub const DEFAULT_PATH: &str = "/etc/fwxdp/fwxdp.toml";
/// Where the exporter listens when `[metrics]` names no address.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:9814";
pub(super) const DEFAULT_LISTEN_ADDR: SocketAddr = SocketAddr::V4(std::net::SocketAddrV4::new(
    std::net::Ipv4Addr::LOCALHOST,
    9814,
));

/// A validated config.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceConfig {
    pub interfaces: Vec<InterfaceConfig>,
    /// The exporter, when the file has a `[metrics]` table.
    pub metrics: Option<MetricsConfig>,
    /// What is valid but probably not meant: `check` prints it, the service logs it.
    pub warnings: Vec<Problem>,
}

/// One `[[interface]]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InterfaceConfig {
    /// The names and patterns it covers.
    pub names: Vec<NamePattern>,
    pub policy: Policy,
    /// `None` keeps the mode in force (and means `auto` on a first attach).
    pub mode: Option<AttachMode>,
    pub monitor: bool,
    /// Drop events logged per second per CPU.
    pub log_rate: u32,
    /// A reload may refuse new logins to SSH sessions established now.
    pub close_ssh: bool,
}

impl InterfaceConfig {
    /// Whether this table covers the interface `name`.
    #[must_use]
    pub fn matches(&self, name: &str) -> bool {
        self.names.iter().any(|n| n.matches(name))
    }

    /// Its names and patterns, as written, comma-separated.
    #[must_use]
    pub fn label(&self) -> String {
        self.names
            .iter()
            .map(NamePattern::as_str)
            .collect::<Vec<_>>()
            .join(", ")
    }
}

impl ServiceConfig {
    /// The table that covers the interface `name`: the first that matches.
    #[must_use]
    pub fn rule_for(&self, name: &str) -> Option<&InterfaceConfig> {
        self.interfaces.iter().find(|i| i.matches(name))
    }
}

/// The `[metrics]` table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MetricsConfig {
    pub listen: SocketAddr,
    pub max_port_series: usize,
}

/// One problem in a config file, with where it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    pub line: Option<usize>,
    pub message: String,
}

/// Everything wrong with a config file.
#[derive(Debug, thiserror::Error)]
pub struct ConfigError {
    pub path: PathBuf,
    pub problems: Vec<Problem>,
}

impl Problem {
    /// The problem as `path:line: message` (or `path: message` when it has no line).
    #[must_use]
    pub fn at(&self, path: &Path) -> String {
        match self.line {
            Some(line) => format!("{}:{line}: {}", path.display(), self.message),
            None => format!("{}: {}", path.display(), self.message),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let lines: Vec<String> = self.problems.iter().map(|p| p.at(&self.path)).collect();
        f.write_str(&lines.join("\n"))
    }
}
