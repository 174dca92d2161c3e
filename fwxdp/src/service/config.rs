//! The service's TOML config file (`/etc/fwxdp/fwxdp.toml`), validated into the same policy
//! type the command line builds.
//!
//! ```toml
//! [[interface]]
//! name = "eth0"
//! allow = ["22", "80", "443", "53/udp", "5432@10.0.0.0/8"]
//! mode = "auto"      # optional
//! monitor = false    # optional
//!
//! [metrics]
//! listen = "127.0.0.1:9814"   # optional; no [metrics] table, no exporter
//! ```

use std::{
    collections::BTreeSet,
    fmt,
    net::SocketAddr,
    ops::Range,
    path::{Path, PathBuf},
};

use serde::Deserialize;
use toml::Spanned;

use crate::{
    iface, metrics,
    mode::AttachMode,
    policy::{Policy, PolicyError},
};

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
}

/// One `[[interface]]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InterfaceConfig {
    pub name: String,
    pub policy: Policy,
    /// `None` keeps the mode in force (and means `auto` on a first attach).
    pub mode: Option<AttachMode>,
    pub monitor: bool,
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

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, problem) in self.problems.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            match problem.line {
                Some(line) => write!(f, "{}:{line}: {}", self.path.display(), problem.message)?,
                None => write!(f, "{}: {}", self.path.display(), problem.message)?,
            }
        }
        Ok(())
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default, rename = "interface")]
    interfaces: Vec<RawInterface>,
    metrics: Option<RawMetrics>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawInterface {
    name: Spanned<String>,
    allow: Vec<Spanned<String>>,
    mode: Option<Spanned<String>>,
    #[serde(default)]
    monitor: bool,
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
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
        path: path.to_owned(),
        problems: vec![Problem {
            line: None,
            message: format!("cannot read: {e}"),
        }],
    })?;
    parse(&text).map_err(|problems| ConfigError {
        path: path.to_owned(),
        problems,
    })
}

/// Validates the text of a config file.
///
/// # Errors
/// Every problem found, each with its line.
pub fn parse(text: &str) -> Result<ServiceConfig, Vec<Problem>> {
    let lines = Lines(text);
    let raw: RawFile = toml::from_str(text).map_err(|e| {
        vec![Problem {
            line: e.span().map(|span| lines.of(&span)),
            message: e.message().trim().to_owned(),
        }]
    })?;
    let mut problems = Vec::new();
    let mut seen = BTreeSet::new();
    let mut interfaces = Vec::new();
    for entry in raw.interfaces {
        let interface = interface(&entry, lines, &mut problems);
        if !seen.insert(interface.name.clone()) {
            problems.push(Problem {
                line: Some(interface.line),
                message: format!("interface {} is listed twice", interface.value.name),
            });
        }
        interfaces.push(interface.value);
    }
    let metrics = raw.metrics.map(|m| metrics(&m, lines, &mut problems));
    if problems.is_empty() {
        Ok(ServiceConfig {
            interfaces,
            metrics,
        })
    } else {
        Err(problems)
    }
}

/// Turns byte offsets into line numbers.
#[derive(Clone, Copy)]
struct Lines<'a>(&'a str);

impl Lines<'_> {
    fn of(self, span: &Range<usize>) -> usize {
        let end = span.start.min(self.0.len());
        self.0
            .get(..end)
            .map_or(0, |before| before.matches('\n').count())
            + 1
    }
}

/// A value with the line it was declared on.
struct Located<T> {
    value: T,
    name: String,
    line: usize,
}

fn interface(
    entry: &RawInterface,
    lines: Lines<'_>,
    problems: &mut Vec<Problem>,
) -> Located<InterfaceConfig> {
    let name = entry.name.get_ref().clone();
    let line = lines.of(&entry.name.span());
    if let Err(e) = iface::check_name(&name) {
        problems.push(Problem {
            line: Some(line),
            message: e.to_string(),
        });
    }
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
    let policy = Policy::parse(&lists).unwrap_or_else(|e| {
        problem(&entry.name.span(), e.to_string());
        Policy::deny_all()
    });
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
        name: name.clone(),
        line,
        value: InterfaceConfig {
            name,
            policy,
            mode,
            monitor: entry.monitor,
        },
    }
}

fn metrics(raw: &RawMetrics, lines: Lines<'_>, problems: &mut Vec<Problem>) -> MetricsConfig {
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
    MetricsConfig {
        listen,
        max_port_series: raw
            .max_port_series
            .unwrap_or(metrics::DEFAULT_MAX_PORT_SERIES),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
[[interface]]
name = "eth0"
allow = ["22", "80", "443", "53/udp", "5432@10.0.0.0/8"]
mode = "auto"
monitor = false

[[interface]]
name = "eth1"
allow = ["22,8000-8100/tcp"]

[metrics]
listen = "127.0.0.1:9814"
"#;

    fn problems(text: &str) -> Vec<Problem> {
        parse(text).expect_err("should be rejected")
    }

    #[test]
    fn parses_the_documented_example() {
        let config = parse(GOOD).expect("valid");
        assert_eq!(config.interfaces.len(), 2);
        let eth0 = &config.interfaces[0];
        assert_eq!(eth0.name, "eth0");
        assert_eq!(eth0.mode, Some(AttachMode::Auto));
        assert!(!eth0.monitor);
        assert_eq!(
            eth0.policy,
            Policy::parse(&["22,80,443,53/udp,5432@10.0.0.0/8"]).expect("policy")
        );
        assert_eq!(config.interfaces[1].mode, None);
        assert_eq!(
            config.metrics.map(|m| m.listen.to_string()),
            Some("127.0.0.1:9814".into())
        );
    }

    #[test]
    fn no_metrics_table_means_no_exporter() {
        let config = parse("[[interface]]\nname = \"eth0\"\nallow = [\"22\"]\n").expect("valid");
        assert_eq!(config.metrics, None);
        let config = parse("[metrics]\n").expect("valid");
        assert_eq!(
            config.metrics.map(|m| m.listen.to_string()),
            Some(DEFAULT_LISTEN.into())
        );
    }

    #[test]
    fn an_unknown_key_is_an_error_with_its_line() {
        let p = problems("[[interface]]\nname = \"eth0\"\nallow = [\"22\"]\nalow = [\"80\"]\n");
        assert_eq!(p[0].line, Some(4), "{p:?}");
        assert!(p[0].message.contains("alow"), "{p:?}");
        let p = problems("[metric]\nlisten = \"127.0.0.1:1\"\n");
        assert_eq!(p[0].line, Some(1), "{p:?}");
        assert!(p[0].message.contains("metric"), "{p:?}");
    }

    #[test]
    fn a_bad_port_names_the_item_and_its_line() {
        let p = problems("[[interface]]\nname = \"eth0\"\nallow = [\n  \"22\",\n  \"70000\",\n]\n");
        assert_eq!(p.len(), 1, "{p:?}");
        assert_eq!(p[0].line, Some(5));
        assert!(p[0].message.contains("\"70000\""), "{p:?}");
        assert!(p[0].message.contains("eth0"), "{p:?}");
    }

    #[test]
    fn a_bad_cidr_names_the_item_and_its_line() {
        let p = problems("[[interface]]\nname = \"eth0\"\nallow = [\"5432@10.0.0.0/33\"]\n");
        assert_eq!(p[0].line, Some(3), "{p:?}");
        assert!(p[0].message.contains("10.0.0.0/33"), "{p:?}");
    }

    #[test]
    fn a_syntax_error_is_reported_with_its_line() {
        let p = problems("[[interface]]\nname = \"eth0\"\nallow = [\"22\"\n\n[metrics]\n");
        assert!(p[0].line.is_some_and(|l| l >= 3), "{p:?}");
        let p = problems("[[interface]]\nname = eth0\n");
        assert_eq!(p[0].line, Some(2), "{p:?}");
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let p = problems(
            "[[interface]]\nname = \"eth0\"\nallow = [\"0\"]\nmode = \"fast\"\n\n\
             [[interface]]\nname = \"eth0\"\nallow = [\"22\"]\n\n\
             [metrics]\nlisten = \"localhost\"\n",
        );
        let lines: Vec<_> = p.iter().map(|p| p.line).collect();
        assert_eq!(lines, vec![Some(3), Some(4), Some(7), Some(11)], "{p:?}");
    }

    #[test]
    fn the_error_names_the_file() {
        let error = ConfigError {
            path: PathBuf::from("/etc/fwxdp/fwxdp.toml"),
            problems: vec![Problem {
                line: Some(3),
                message: "bad".into(),
            }],
        };
        assert_eq!(error.to_string(), "/etc/fwxdp/fwxdp.toml:3: bad");
    }
}
