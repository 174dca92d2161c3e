//! The service's TOML config file (`/etc/fwxdp/fwxdp.toml`), validated into the same policy
//! type the command line builds.
//!
//! ```toml
//! [[interface]]
//! name = ["eth*", "en*"]   # a name, a pattern, or a list of them; never lo
//! allow = ["22", "80", "443", "53/udp", "5432@10.0.0.0/8"]
//! limit = ["22/tcp=4/60s"]   # optional: per-source rate limits, the port allowed
//! log_rate = 10      # optional: drop events logged per second per CPU (0: none)
//! mode = "auto"      # optional
//! monitor = false    # optional
//!
//! [metrics]
//! listen = "127.0.0.1:9814"   # optional; no [metrics] table, no exporter
//! ```

use std::{
    collections::BTreeSet,
    fmt,
    io::Read as _,
    net::SocketAddr,
    ops::Range,
    path::{Path, PathBuf},
};

use serde::Deserialize;
use toml::Spanned;

pub use names::NamePattern;

use crate::{
    metrics,
    mode::AttachMode,
    policy::{Policy, PolicyError, limit},
};

/// The largest config file read; a real one is a few hundred bytes.
pub const MAX_FILE_BYTES: u64 = 1 << 20;
/// The most `[[interface]]` tables a config may have.
pub const MAX_INTERFACES: usize = 1024;

/// Where the service looks for its config unless told otherwise.
pub const DEFAULT_PATH: &str = "/etc/fwxdp/fwxdp.toml";
/// Where the exporter listens when `[metrics]` names no address.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:9814";
const DEFAULT_LISTEN_ADDR: SocketAddr = SocketAddr::V4(std::net::SocketAddrV4::new(
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default, rename = "interface")]
    interfaces: Vec<RawInterface>,
    metrics: Option<RawMetrics>,
    /// Says that a file without interfaces is meant (a reload with it detaches them all).
    #[serde(default)]
    filter_nothing: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawInterface {
    name: Spanned<OneOrMany>,
    #[serde(default)]
    allow: Vec<Spanned<String>>,
    /// Per-source rate limits (`22/tcp=4/60s`); a limited port is allowed.
    #[serde(default)]
    limit: Vec<Spanned<String>>,
    mode: Option<Spanned<String>>,
    #[serde(default)]
    monitor: bool,
    /// Drop events logged per second per CPU (0: none).
    #[serde(default = "default_log_rate")]
    log_rate: u32,
    /// Says that an empty allow list (every new connection dropped, SSH too) is meant.
    #[serde(default)]
    allow_nothing: bool,
    /// Says that a reload may refuse new logins to an SSH session established now.
    #[serde(default)]
    close_ssh: bool,
}

const fn default_log_rate() -> u32 {
    fwxdp_common::LOG_RATE_DEFAULT
}

/// `name = "eth0"` or `name = ["eth*", "en*"]`.
#[derive(Deserialize)]
#[serde(untagged, expecting = "a name or pattern, or a list of them")]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    fn items(&self) -> &[String] {
        match self {
            Self::One(one) => std::slice::from_ref(one),
            Self::Many(many) => many,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMetrics {
    listen: Option<Spanned<String>>,
    max_port_series: Option<usize>,
}

/// Reads and validates the config at `path`.
///
/// # Errors
/// Every problem found, each with its line.
pub fn load(path: &Path) -> Result<ServiceConfig, ConfigError> {
    parse_at(path, &read(path)?)
}

/// Reads and validates the config at `path`, and returns its text too (to keep as the
/// last good copy).
///
/// # Errors
/// Every problem found, each with its line.
pub fn load_text(path: &Path) -> Result<(String, ServiceConfig), ConfigError> {
    let text = read(path)?;
    let config = parse_at(path, &text)?;
    Ok((text, config))
}

/// Validates `text`, read from `path`.
///
/// # Errors
/// Every problem found, each with its line.
pub fn parse_at(path: &Path, text: &str) -> Result<ServiceConfig, ConfigError> {
    parse(text).map_err(|problems| ConfigError {
        path: path.to_owned(),
        problems,
    })
}

/// Reads the text of the config at `path`, at most [`MAX_FILE_BYTES`] of it.
///
/// # Errors
/// When it cannot be read, is too large, or is not UTF-8.
pub fn read(path: &Path) -> Result<String, ConfigError> {
    let whole = |message: String| ConfigError {
        path: path.to_owned(),
        problems: vec![Problem {
            line: None,
            message,
        }],
    };
    let mut bytes = Vec::new();
    // Bounded, so that a device or a runaway file cannot exhaust memory.
    std::fs::File::open(path)
        .and_then(|file| file.take(MAX_FILE_BYTES + 1).read_to_end(&mut bytes))
        .map_err(|e| whole(format!("cannot read: {e}")))?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(whole(format!(
            "larger than {MAX_FILE_BYTES} bytes: not a config file"
        )));
    }
    String::from_utf8(bytes).map_err(|e| whole(format!("not UTF-8 text: {e}")))
}

/// Validates the text of a config file.
///
/// # Errors
/// Every problem found, each with its line.
pub fn parse(text: &str) -> Result<ServiceConfig, Vec<Problem>> {
    let lines = Lines::new(text);
    let raw: RawFile = toml::from_str(text).map_err(|e| {
        vec![Problem {
            line: e.span().map(|span| lines.of(&span)),
            message: e.message().trim().to_owned(),
        }]
    })?;
    let mut problems = Vec::new();
    if raw.interfaces.len() > MAX_INTERFACES {
        // Each compiled policy is a 64 KiB port table: refuse before building them.
        return Err(vec![Problem {
            line: raw
                .interfaces
                .get(MAX_INTERFACES)
                .map(|i| lines.of(&i.name.span())),
            message: format!(
                "{} [[interface]] tables; at most {MAX_INTERFACES} are allowed",
                raw.interfaces.len()
            ),
        }]);
    }
    let mut seen = BTreeSet::new();
    let mut interfaces = Vec::new();
    let mut lines_of_tables = Vec::new();
    for entry in raw.interfaces {
        let interface = interface(&entry, &lines, &mut problems);
        lines_of_tables.push(interface.line);
        for name in &interface.value.names {
            if !seen.insert(name.as_str().to_owned()) {
                problems.push(Problem {
                    line: Some(interface.line),
                    message: format!("interface {name} is listed twice"),
                });
            }
        }
        interfaces.push(interface.value);
    }
    if interfaces.is_empty() && !raw.filter_nothing {
        problems.push(Problem {
            line: None,
            message: "no [[interface]]: the service would filter nothing, and a reload with \
                      this file would detach every interface it attached (write \
                      `filter_nothing = true` at the top to mean it)"
                .to_owned(),
        });
    }
    // First match wins: a name an earlier table's pattern already covers would silently
    // get that table's allow list.
    for (later, (interface, line)) in interfaces.iter().zip(&lines_of_tables).enumerate() {
        for name in interface.names.iter().filter(|n| n.is_name()) {
            if let Some(earlier) = interfaces[..later]
                .iter()
                // The very name twice is reported as such, above.
                .find(|e| e.matches(name.as_str()) && !e.names.contains(name))
            {
                problems.push(Problem {
                    line: Some(*line),
                    message: format!(
                        "interface {name} is covered by an earlier [[interface]] ({}), \
                         which wins: move this table before it",
                        earlier.label()
                    ),
                });
            }
        }
    }
    let mut warnings = Vec::new();
    for (interface, line) in interfaces.iter().zip(&lines_of_tables) {
        // Container plumbing carries the containers' own traffic: filtering it with a
        // server's allow list cuts them off.
        for name in interface.names.iter().filter(|n| !n.is_name()) {
            if let Some(sample) = ["docker0", "veth1a2b3c", "br-0123abcd", "cni0", "virbr0"]
                .into_iter()
                .find(|sample| name.matches(sample))
            {
                warnings.push(Problem {
                    line: Some(*line),
                    message: format!(
                        "pattern {name} also matches container and VM devices (such as \
                         {sample}): their traffic would be filtered with this allow list"
                    ),
                });
            }
        }
    }
    let metrics = raw
        .metrics
        .map(|m| metrics(&m, &lines, &mut problems, &mut warnings));
    if problems.is_empty() {
        Ok(ServiceConfig {
            interfaces,
            metrics,
            warnings,
        })
    } else {
        Err(problems)
    }
}

/// Turns byte offsets into line numbers: the newlines are found once, and each lookup is a
/// binary search, so a file of many entries is numbered in linear time.
struct Lines {
    /// Offsets of every newline, in order.
    newlines: Vec<usize>,
}

impl Lines {
    fn new(text: &str) -> Self {
        Self {
            newlines: text.match_indices('\n').map(|(at, _)| at).collect(),
        }
    }

    fn of(&self, span: &Range<usize>) -> usize {
        self.newlines.partition_point(|&at| at < span.start) + 1
    }
}

/// A value with the line it was declared on.
struct Located<T> {
    value: T,
    line: usize,
}

fn interface(
    entry: &RawInterface,
    lines: &Lines,
    problems: &mut Vec<Problem>,
) -> Located<InterfaceConfig> {
    let line = lines.of(&entry.name.span());
    let mut names = Vec::new();
    for text in entry.name.get_ref().items() {
        match NamePattern::parse(text) {
            Ok(name) => names.push(name),
            Err(message) => problems.push(Problem {
                line: Some(line),
                message,
            }),
        }
    }
    if entry.name.get_ref().items().is_empty() {
        problems.push(Problem {
            line: Some(line),
            message: "name lists no interface".to_owned(),
        });
    }
    let name = entry.name.get_ref().items().join(", ");
    let mut problem = |span: &Range<usize>, message: String| {
        problems.push(Problem {
            line: Some(lines.of(span)),
            message: format!("interface {name}: {message}"),
        });
    };
    let mut lists = Vec::new();
    for item in &entry.allow {
        match Policy::parse(&[item.get_ref()]) {
            Ok(_) => lists.push(item.get_ref().clone()),
            Err(PolicyError::Spec(errors)) => {
                for e in errors {
                    problem(&item.span(), e.to_string());
                }
            }
            Err(e) => problem(&item.span(), e.to_string()),
        }
    }
    let mut limit_lists = Vec::new();
    for item in &entry.limit {
        match limit::parse_list(item.get_ref()) {
            Ok(_) => limit_lists.push(item.get_ref().clone()),
            Err(errors) => {
                for e in errors {
                    problem(&item.span(), e.to_string());
                }
            }
        }
    }
    let policy = Policy::parse_with_limits(&lists, &limit_lists).unwrap_or_else(|e| {
        problem(&entry.name.span(), e.to_string());
        Policy::deny_all()
    });
    if entry.allow.is_empty() && entry.limit.is_empty() && !entry.allow_nothing {
        problem(
            &entry.name.span(),
            "allow is empty: every new connection, SSH included, would be dropped (write \
             `allow_nothing = true` in this [[interface]] to mean it)"
                .to_owned(),
        );
    }
    let mode = entry.mode.as_ref().and_then(|mode| {
        let parsed = <AttachMode as clap::ValueEnum>::from_str(mode.get_ref(), false).ok();
        if parsed.is_none() {
            let text = mode.get_ref();
            problem(
                &mode.span(),
                format!("unknown mode {text:?} (auto, native, generic or tc)"),
            );
        }
        parsed
    });
    Located {
        line,
        value: InterfaceConfig {
            names,
            policy,
            mode,
            monitor: entry.monitor,
            log_rate: entry.log_rate,
            close_ssh: entry.close_ssh,
        },
    }
}

fn metrics(
    raw: &RawMetrics,
    lines: &Lines,
    problems: &mut Vec<Problem>,
    warnings: &mut Vec<Problem>,
) -> MetricsConfig {
    let listen = raw.listen.as_ref().map_or(DEFAULT_LISTEN_ADDR, |listen| {
        listen.get_ref().parse().unwrap_or_else(|_| {
            problems.push(Problem {
                line: Some(lines.of(&listen.span())),
                message: format!(
                    "metrics: listen {:?} is not an address and port such as {DEFAULT_LISTEN}",
                    listen.get_ref()
                ),
            });
            DEFAULT_LISTEN_ADDR
        })
    });
    if !listen.ip().is_loopback() {
        warnings.push(Problem {
            line: raw.listen.as_ref().map(|l| lines.of(&l.span())),
            message: format!(
                "metrics: listen {listen} is not a loopback address: whoever reaches port {} \
                 of this host reads the counters, and fwxdp does not protect that port unless \
                 the allow list leaves it out",
                listen.port()
            ),
        });
    }
    MetricsConfig {
        listen,
        max_port_series: raw
            .max_port_series
            .unwrap_or(metrics::DEFAULT_MAX_PORT_SERIES),
    }
}

mod names;
#[cfg(test)]
mod tests;
