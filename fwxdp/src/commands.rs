//! Runs each command and prints its result, for people or (with --json) for machines.

use std::{fmt, io::Write as _};

use anyhow::{Context as _, Result, bail};
use fwxdp::{
    attach::{self, Outcome, Request},
    detach,
    lock::StateLock,
    pins::PinRoot,
    policy::Policy,
    stats::{self, InterfaceStats},
    status::{self, InterfaceStatus},
};
use fwxdp_common::AttachMode;
use nix::sys::signal::{SigSet, Signal};
use serde_json::json;

use crate::{
    cli::{AttachArgs, Cli, Command, DetachArgs},
    serve, ssh_guard,
};

/// Bad input: reported with exit code 2, nothing applied.
#[derive(Debug)]
pub(crate) struct UsageError(pub(crate) String);

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

pub(crate) fn run(cli: Cli) -> Result<()> {
    let root = PinRoot::new(cli.pin_root);
    match cli.command {
        Command::Attach(args) => attach(&root, &args),
        Command::Detach(args) => detach(&root, &args),
        Command::Status { json } => status(&root, json),
        Command::Stats { iface, json } => stats(&root, iface.as_deref(), json),
        Command::Run { config } => serve::service(root, config),
        Command::Check { config } => serve::check(&config),
        Command::Metrics {
            listen,
            max_port_series,
        } => serve::metrics(root, listen, max_port_series),
    }
}

pub(crate) fn require_root() -> Result<()> {
    if !nix::unistd::geteuid().is_root() {
        bail!(
            "fwxdp must run as root: loading and attaching BPF programs needs CAP_BPF and CAP_NET_ADMIN"
        );
    }
    Ok(())
}

fn attach(root: &PinRoot, args: &AttachArgs) -> Result<()> {
    // Validate everything before touching anything.
    let policy = Policy::parse(&args.allow)?;
    if !args.force {
        ssh_guard::check(&policy)?;
    }
    for iface in &args.ifaces {
        fwxdp::iface::check_name(iface).map_err(|e| UsageError(e.to_string()))?;
    }
    require_root()?;
    for iface in &args.ifaces {
        fwxdp::iface::filterable_index(iface)?;
    }
    // Ctrl-C or a TERM midway would leave programs attached from a staging directory that
    // no command shows: hold those signals until the state is whole (they act on exit).
    let mut hold = SigSet::empty();
    for signal in [
        Signal::SIGINT,
        Signal::SIGTERM,
        Signal::SIGHUP,
        Signal::SIGQUIT,
    ] {
        hold.add(signal);
    }
    hold.thread_block().context("block signals")?;
    let _lock = StateLock::acquire()?;
    for iface in &args.ifaces {
        let outcome = attach::attach(
            root,
            &Request {
                iface,
                policy: &policy,
                monitor: args.monitor,
                mode: args.mode.map(Into::into),
            },
        )
        .with_context(|| format!("attach {iface}"))?;
        print_outcome(&outcome, &policy, args.monitor);
    }
    Ok(())
}

fn mode_label(mode: AttachMode) -> &'static str {
    match mode {
        AttachMode::Native => "native XDP",
        AttachMode::Generic => "generic XDP",
        AttachMode::Tc => "TC ingress",
    }
}

fn print_outcome(outcome: &Outcome, policy: &Policy, monitor: bool) {
    if let Some(reason) = &outcome.fallback {
        println!(
            "{}: native XDP is not available ({reason}); using generic XDP",
            outcome.iface
        );
    }
    if let Some(from) = outcome.switched_from {
        println!(
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
    let allow = policy.to_specs();
    let allow = if allow.is_empty() {
        "nothing".to_owned()
    } else {
        allow.join(",")
    };
    let monitor = if monitor {
        " (monitor mode: counting, not dropping)"
    } else {
        ""
    };
    println!(
        "{}: {action} ({}), allowing {allow}{monitor}",
        outcome.iface,
        mode_label(outcome.mode)
    );
}

fn detach(root: &PinRoot, args: &DetachArgs) -> Result<()> {
    for iface in &args.ifaces {
        fwxdp::iface::check_name(iface).map_err(|e| UsageError(e.to_string()))?;
    }
    require_root()?;
    let _lock = StateLock::acquire()?;
    if args.all {
        let ifaces = detach::detach_all(root)?;
        if ifaces.is_empty() {
            println!("nothing was attached");
        }
        for iface in ifaces {
            println!("{iface}: detached");
        }
        return Ok(());
    }
    for iface in &args.ifaces {
        detach::detach(root, iface)?;
        println!("{iface}: detached");
    }
    Ok(())
}

fn status(root: &PinRoot, json: bool) -> Result<()> {
    require_root()?;
    let _lock = StateLock::acquire()?;
    let (interfaces, errors) = split(status::status(root)?);
    if json {
        print_json(&json!({ "interfaces": interfaces, "errors": errors }))?;
    } else {
        if interfaces.is_empty() && errors.is_empty() {
            println!("no interface is attached");
        }
        for s in &interfaces {
            print_status(s);
        }
    }
    unreadable(&errors)
}

/// What could be read, and `{interface, error}` for what could not.
fn split<T, E: std::error::Error + Send + Sync + 'static>(
    results: Vec<(String, Result<T, E>)>,
) -> (Vec<T>, Vec<serde_json::Value>) {
    let mut read = Vec::new();
    let mut errors = Vec::new();
    for (iface, result) in results {
        match result {
            Ok(value) => read.push(value),
            Err(error) => {
                let error = format!("{:#}", anyhow::Error::new(error));
                errors.push(json!({ "interface": iface, "error": error }));
            }
        }
    }
    (read, errors)
}

/// Names every interface that could not be read, and fails (exit 1) when there was one.
fn unreadable(errors: &[serde_json::Value]) -> Result<()> {
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
        bail!("{} attached interface(s) could not be read", errors.len())
    }
}

fn print_status(s: &InterfaceStatus) {
    let gone = if s.present { "" } else { "  (interface gone)" };
    println!(
        "{}: mode {}, monitor {}, attached {}, program id {}{gone}",
        s.interface,
        s.mode,
        if s.monitor { "on" } else { "off" },
        s.attached_at_utc,
        s.program_id
            .map_or_else(|| "?".to_owned(), |id| id.to_string()),
    );
    let allow = if s.allow.is_empty() {
        "nothing".to_owned()
    } else {
        s.allow.join(",")
    };
    println!("  allow {allow}");
}

fn stats(root: &PinRoot, iface: Option<&str>, json: bool) -> Result<()> {
    require_root()?;
    let (interfaces, errors) = split(stats::stats(root, iface)?);
    if json {
        print_json(&json!({ "interfaces": interfaces, "errors": errors }))?;
    } else {
        if interfaces.is_empty() && errors.is_empty() {
            println!("no interface is attached");
        }
        for s in &interfaces {
            print_stats(s);
        }
    }
    unreadable(&errors)
}

fn print_stats(s: &InterfaceStats) {
    let monitor = if s.monitor {
        " (monitor mode: drops were counted, not done)"
    } else {
        ""
    };
    println!("{}{monitor}", s.interface);
    println!("  {:<14} {:>14} {:>16}", "reason", "packets", "bytes");
    for (reason, count) in &s.reasons {
        println!("  {reason:<14} {:>14} {:>16}", count.packets, count.bytes);
    }
    if !s.ports.is_empty() {
        println!("  {:<14} {:>14} {:>16}", "dropped port", "packets", "bytes");
        for p in &s.ports {
            let port = format!("{}/{}", p.port, p.proto);
            println!("  {port:<14} {:>14} {:>16}", p.packets, p.bytes);
        }
    }
    for o in s.ports_other.iter().filter(|o| o.packets > 0) {
        let label = format!("other/{}", o.proto);
        println!("  {label:<14} {:>14} {:>16}", o.packets, o.bytes);
    }
}

fn print_json(value: &serde_json::Value) -> Result<()> {
    let mut out = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, value)?;
    writeln!(out)?;
    Ok(())
}
