//! Validating one `[[interface]]` or `[metrics]` table, with the line each problem is on.

use std::ops::Range;

use super::{
    model::{DEFAULT_LISTEN, DEFAULT_LISTEN_ADDR, InterfaceConfig, MetricsConfig, Problem},
    names::NamePattern,
    raw::{RawInterface, RawMetrics},
};
use crate::{
    metrics,
    mode::AttachMode,
    policy::{Policy, PolicyError, limit},
};

/// Turns byte offsets into line numbers: the newlines are found once, and each lookup is a
/// binary search, so a file of many entries is numbered in linear time.
pub(super) struct Lines {
    /// Offsets of every newline, in order.
    newlines: Vec<usize>,
}

impl Lines {
    pub(super) fn new(text: &str) -> Self {
        Self {
            newlines: text.match_indices('\n').map(|(at, _)| at).collect(),
        }
    }

    pub(super) fn of(&self, span: &Range<usize>) -> usize {
        self.newlines.partition_point(|&at| at < span.start) + 1
    }
}

/// A value with the line it was declared on.
pub(super) struct Located<T> {
    pub(super) value: T,
    pub(super) line: usize,
}

pub(super) fn interface(
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

pub(super) fn metrics(
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
