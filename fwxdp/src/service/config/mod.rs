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

use std::{collections::BTreeSet, io::Read as _, path::Path};

pub use model::{
    ConfigError, DEFAULT_LISTEN, DEFAULT_PATH, InterfaceConfig, MAX_FILE_BYTES, MAX_INTERFACES,
    MetricsConfig, Problem, ServiceConfig,
};
pub use names::NamePattern;
use raw::RawFile;
use tables::{Lines, interface, metrics};

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

pub mod diff;
mod model;
mod names;
mod raw;
pub mod save;
mod tables;
#[cfg(test)]
mod tests;
