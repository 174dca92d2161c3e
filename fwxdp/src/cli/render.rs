//! Command results for people, and (with `--json`) for machines.

use std::io::Write as _;

use serde_json::json;

use super::error::CliError;
use crate::{
    attach::Outcome,
    error,
    mode::AttachMode,
    policy::Policy,
    report::{InterfaceStats, InterfaceStatus, PerInterface},
    service::ServiceConfig,
};

fn mode_label(mode: AttachMode) -> &'static str {
    match mode {
        AttachMode::Auto => "auto",
        AttachMode::Native => "native XDP",
        AttachMode::Generic => "generic XDP",
        AttachMode::Tc => "TC ingress",
    }
}

fn allow_list(specs: &[String]) -> String {
    if specs.is_empty() {
        "nothing".to_owned()
    } else {
        specs.join(",")
    }
}

/// What `attach` did to one interface.
pub(super) fn outcome(outcome: &Outcome, policy: &Policy, monitor: bool) {
    if let Some(reason) = &outcome.fallback {
        say!(
            "{}: native XDP is not available ({reason}); using generic XDP",
            outcome.iface
        );
    }
    if let Some(layout) = outcome.upgraded_from {
        say!(
            "{}: pins upgraded from layout {layout} to {} with no unfiltered moment (counters \
             and rate-limit windows start again)",
            outcome.iface,
            fwxdp_common::CONFIG_VERSION
        );
    }
    if let Some(from) = outcome.switched_from {
        say!(
            "{}: moved from {} to {} with no unfiltered moment",
            outcome.iface,
            mode_label(from),
            mode_label(outcome.mode)
        );
    }
    let action = if outcome.replaced {
        "policy replaced in place"
    } else {
        "attached"
    };
    let monitor = if monitor {
        " (monitor mode: counting, not dropping)"
    } else {
        ""
    };
    say!(
        "{}: {action} ({}), allowing {}{}{monitor}",
        outcome.iface,
        mode_label(outcome.mode),
        allow_list(&policy.to_specs()),
        limits(&policy.limit_specs())
    );
}

/// `, limiting 22/tcp=4/1m` for a policy with limits, nothing without.
fn limits(specs: &[String]) -> String {
    if specs.is_empty() {
        String::new()
    } else {
        format!(", limiting {}", specs.join(","))
    }
}

/// What could be read, and `{interface, error}` for what could not.
pub(super) fn split<T>(results: Vec<PerInterface<T>>) -> (Vec<T>, Vec<serde_json::Value>) {
    let mut read = Vec::new();
    let mut errors = Vec::new();
    for (iface, result) in results {
        match result {
            Ok(value) => read.push(value),
            Err(e) => errors.push(json!({ "interface": iface, "error": error::chain(&e) })),
        }
    }
    (read, errors)
}

/// Names every interface that could not be read, and fails (exit 1) when there was one.
pub(super) fn unreadable(errors: &[serde_json::Value]) -> Result<(), CliError> {
    for e in errors {
        eprintln!(
            "fwxdp: {}: {}",
            e["interface"].as_str().unwrap_or("?"),
            e["error"].as_str().unwrap_or("?")
        );
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(CliError::Unreadable {
            count: errors.len(),
        })
    }
}

/// One interface of `status`.
pub(super) fn status(s: &InterfaceStatus) {
    let mechanism = match s.mechanism {
        "xdp_link" => "BPF link",
        "tcx" => "TCX",
        other => other,
    };
    say!(
        "{}: mode {} ({mechanism}), monitor {}, attached {}, program id {}",
        s.interface,
        s.mode,
        if s.monitor { "on" } else { "off" },
        s.attached_at_utc,
        s.program_id
            .map_or_else(|| "?".to_owned(), |id| id.to_string()),
    );
    say!("  allow {}", allow_list(&s.allow));
    if !s.limits.is_empty() {
        say!("  limit {}", s.limits.join(","));
    }
    if let Some(why) = &s.unfiltered {
        say!("  NOT FILTERED: {why}");
    }
}

/// Tunnel devices that are up and that no filter covers.
pub(super) fn tunnels(tunnels: &[crate::report::UnfilteredTunnel]) {
    for t in tunnels {
        say!(
            "warning: tunnel device {} ({}) is up and not filtered: what arrives inside it \
             reaches every port (fwxdp attach {} --allow ..., or cover it in the config)",
            t.interface,
            t.kind,
            t.interface
        );
    }
}

/// `audit`: a line per port, interface and family; the unfiltered interfaces; the summary.
pub(super) fn audit(audit: &crate::report::audit::Audit) {
    use crate::report::audit::Exposure;
    for e in &audit.entries {
        let exposure = match e.exposure {
            Exposure::Everyone => "everyone".to_owned(),
            Exposure::Cidr => format!("only {}", e.cidrs.join(", ")),
            Exposure::Protected => "protected".to_owned(),
            Exposure::Loopback => "loopback only".to_owned(),
            Exposure::Unfiltered => "everyone, NOT FILTERED".to_owned(),
        };
        say!(
            "{}/{} {} on {}: {exposure} ({} {}{})",
            e.proto,
            e.port,
            e.family,
            e.interface,
            e.source,
            e.address,
            e.process
                .as_ref()
                .map_or_else(String::new, |p| format!(", {p}"))
        );
    }
    for u in &audit.unfiltered_interfaces {
        say!(
            "interface {}{} carries traffic with no filter: {}",
            u.interface,
            u.kind
                .as_ref()
                .map_or_else(String::new, |k| format!(" ({k})")),
            u.why
        );
    }
    for note in &audit.notes {
        say!("note: {note}");
    }
    say!("{}", audit.summary);
}

/// One interface of `stats`.
pub(super) fn stats(s: &InterfaceStats) {
    let monitor = if s.monitor {
        " (monitor mode: drops were counted, not done)"
    } else {
        ""
    };
    say!("{}{monitor}", s.interface);
    say!("  {:<14} {:>14} {:>16}", "reason", "packets", "bytes");
    for (reason, count) in &s.reasons {
        say!("  {reason:<14} {:>14} {:>16}", count.packets, count.bytes);
    }
    if !s.ports.is_empty() {
        say!("  {:<14} {:>14} {:>16}", "dropped port", "packets", "bytes");
        for p in &s.ports {
            let port = format!("{}/{}", p.port, p.proto);
            say!("  {port:<14} {:>14} {:>16}", p.packets, p.bytes);
        }
    }
    for o in s.ports_other.iter().filter(|o| o.packets > 0) {
        let label = format!("other/{}", o.proto);
        say!("  {label:<14} {:>14} {:>16}", o.packets, o.bytes);
    }
    if !s.protocols.is_empty() {
        say!(
            "  {:<14} {:>14} {:>16}",
            "dropped proto",
            "packets",
            "bytes"
        );
        for p in &s.protocols {
            let label = format!("ip:{}", p.protocol);
            say!("  {label:<14} {:>14} {:>16}", p.packets, p.bytes);
        }
    }
    if s.log.suppressed > 0 || s.log.lost > 0 {
        say!(
            "  drop log: {} left out over its rate, {} lost with its buffer full",
            s.log.suppressed,
            s.log.lost
        );
    }
    if !s.ratelimited.is_empty() {
        say!("  {:<14} {:>14} {:>16}", "rate-limited", "packets", "bytes");
        for p in &s.ratelimited {
            let port = format!("{}/{}", p.port, p.proto);
            say!("  {port:<14} {:>14} {:>16}", p.packets, p.bytes);
        }
    }
}

/// A valid config, as `check` shows it.
pub(super) fn config(
    path: &std::path::Path,
    config: &ServiceConfig,
    links: &[crate::netlink::Link],
) {
    say!("{}: valid", path.display());
    for interface in &config.interfaces {
        say!(
            "  {}: allow {}{}, mode {}, monitor {}",
            interface.label(),
            allow_list(&interface.policy.to_specs()),
            limits(&interface.policy.limit_specs()),
            interface
                .mode
                .map_or("as attached (auto at first)", AttachMode::name),
            if interface.monitor { "on" } else { "off" }
        );
        // The first table that matches an interface is the one that filters it.
        let covered: Vec<&str> = links
            .iter()
            .filter(|l| !l.loopback)
            .filter(|l| {
                config
                    .rule_for(&l.name)
                    .is_some_and(|rule| std::ptr::eq(rule, interface))
            })
            .map(|l| l.name.as_str())
            .collect();
        if covered.is_empty() {
            say!("    covers no interface of this host now (attached when one appears)");
        } else {
            say!("    covers now: {}", covered.join(", "));
        }
    }
    if let Some(m) = config.metrics {
        say!(
            "  metrics on {} (at most {} port series)",
            m.listen,
            m.max_port_series
        );
    } else {
        say!("  no metrics exporter");
    }
    for problem in &config.warnings {
        say!("  warning: {}", problem.at(path));
    }
    for tunnel in links
        .iter()
        .filter(|l| l.up && l.needs_own_filter() && config.rule_for(&l.name).is_none())
    {
        say!(
            "  warning: tunnel device {} ({}) is up and no [[interface]] covers it: what \
             arrives inside it reaches every port",
            tunnel.name,
            tunnel.kind.as_deref().unwrap_or("tunnel")
        );
    }
}

/// `value` as indented JSON on stdout.
pub(super) fn json(value: &serde_json::Value) -> Result<(), CliError> {
    let mut out = std::io::stdout().lock();
    match serde_json::to_writer_pretty(&mut out, value)
        .map_err(std::io::Error::from)
        .and_then(|()| writeln!(out))
    {
        // Nobody reads the rest: not a failure of the command.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other.map_err(CliError::Output),
    }
}

fn scope_label(scope: &crate::state::Scope) -> String {
    match scope {
        crate::state::Scope::All => "every interface".to_owned(),
        crate::state::Scope::Interface(name) => name.clone(),
    }
}

/// One block given.
pub(super) fn blocked(
    scope: &crate::state::Scope,
    net: ipnet::IpNet,
    duration: Option<std::time::Duration>,
) {
    let until = duration.map_or_else(
        || " until unblocked".to_owned(),
        |d| format!(" for {}", humantime::format_duration(d)),
    );
    say!("blocked {net} on {}{until}", scope_label(scope));
}

/// One block lifted, or found absent.
pub(super) fn unblocked(scope: &crate::state::Scope, net: ipnet::IpNet, was: bool) {
    if was {
        say!("unblocked {net} on {}", scope_label(scope));
    } else {
        say!("{net} was not blocked on {}", scope_label(scope));
    }
}

/// The blocks in force.
pub(super) fn blocks(blocks: &[crate::state::Block], now_ns: u64) {
    if blocks.is_empty() {
        say!("no blocks");
        return;
    }
    say!("{:<16} {:<44} {}", "scope", "network", "expires");
    for b in blocks {
        let expires = b.expires_ns.map_or_else(
            || "never".to_owned(),
            |end| {
                let left = std::time::Duration::from_secs((end - now_ns).div_ceil(1_000_000_000));
                format!("in {}", humantime::format_duration(left))
            },
        );
        say!(
            "{:<16} {:<44} {expires}",
            b.scope.to_string(),
            b.net.to_string()
        );
    }
}
