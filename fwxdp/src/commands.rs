//! Runs each command and prints its result, for people or (with --json) for machines.

use std::{
    fmt,
    io::Write as _,
    net::{IpAddr, SocketAddr},
};

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
use fwxdp_common::{AttachMode, Proto};
use nix::sys::signal::{SigSet, Signal};
use serde_json::json;

use crate::cli::{AttachArgs, Cli, Command, DetachArgs};

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
        Command::Run { config } => service(root, config),
        Command::Check { config } => check(&config),
        Command::Metrics {
            listen,
            max_port_series,
        } => metrics(root, listen, max_port_series),
    }
}

fn require_root() -> Result<()> {
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
        check_ssh_session(&policy)?;
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

/// Refuses a policy that would lock out new logins over the SSH session running this
/// command: a remote operator's most expensive mistake.
fn check_ssh_session(policy: &Policy) -> Result<()> {
    let Some(connection) = ssh_connection() else {
        return Ok(());
    };
    let mut fields = connection.split_whitespace();
    let (Some(client), Some(_), Some(_), Some(port)) =
        (fields.next(), fields.next(), fields.next(), fields.next())
    else {
        return Ok(());
    };
    let (Ok(client), Ok(port)) = (client.parse::<IpAddr>(), port.parse::<u16>()) else {
        return Ok(());
    };
    if policy.admits(Proto::Tcp, port, client) {
        return Ok(());
    }
    Err(UsageError(format!(
        "this SSH session came in on TCP port {port} from {client}, which the allow list does \
         not open: new SSH logins would be refused. Add {port} to --allow, or pass --force"
    ))
    .into())
}

/// `SSH_CONNECTION` of this process or, as sudo's `env_reset` removes it, of the nearest
/// ancestor that has it.
fn ssh_connection() -> Option<String> {
    if let Ok(connection) = std::env::var("SSH_CONNECTION") {
        return Some(connection);
    }
    let mut pid = std::os::unix::process::parent_id();
    // Bounded: a process tree is never this deep, and a loop must end.
    for _ in 0..64 {
        if pid <= 1 {
            return None;
        }
        if let Ok(environ) = std::fs::read(format!("/proc/{pid}/environ")) {
            let found = environ
                .split(|b| *b == 0)
                .find_map(|var| var.strip_prefix(b"SSH_CONNECTION="))
                .map(|value| String::from_utf8_lossy(value).into_owned());
            if found.is_some() {
                return found;
            }
        }
        pid = parent_of(pid)?;
    }
    None
}

/// The parent of `pid`, from `/proc/<pid>/stat` (the field after the command's closing ')').
fn parent_of(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, rest) = stat.rsplit_once(')')?;
    rest.split_whitespace().nth(1)?.parse().ok()
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
    let interfaces = status::status(root)?;
    if json {
        return print_json(&json!({ "interfaces": interfaces }));
    }
    if interfaces.is_empty() {
        println!("no interface is attached");
    }
    for s in &interfaces {
        print_status(s);
    }
    Ok(())
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
    let interfaces = stats::stats(root, iface)?;
    if json {
        return print_json(&json!({ "interfaces": interfaces }));
    }
    if interfaces.is_empty() {
        println!("no interface is attached");
    }
    for s in &interfaces {
        print_stats(s);
    }
    Ok(())
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

fn check(path: &std::path::Path) -> Result<()> {
    let config = fwxdp::config::load(path)?;
    println!("{}: valid", path.display());
    for interface in &config.interfaces {
        let allow = interface.policy.to_specs();
        println!(
            "  {}: allow {}, mode {}, monitor {}",
            interface.name,
            if allow.is_empty() {
                "nothing".to_owned()
            } else {
                allow.join(",")
            },
            interface
                .mode
                .map_or("as attached (auto at first)", |m| m.name()),
            if interface.monitor { "on" } else { "off" }
        );
    }
    match config.metrics {
        Some(m) => println!(
            "  metrics on {} (at most {} port series)",
            m.listen, m.max_port_series
        ),
        None => println!("  no metrics exporter"),
    }
    Ok(())
}

fn service(root: PinRoot, path: std::path::PathBuf) -> Result<()> {
    require_root()?;
    init_logging();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("start the async runtime")?;
    runtime.block_on(async move {
        use tokio::signal::unix::{SignalKind, signal};
        let (events, receiver) = tokio::sync::mpsc::channel(4);
        let mut hup = signal(SignalKind::hangup()).context("handle SIGHUP")?;
        let mut term = signal(SignalKind::terminate()).context("handle SIGTERM")?;
        let mut int = signal(SignalKind::interrupt()).context("handle SIGINT")?;
        tokio::spawn(async move {
            loop {
                let event = tokio::select! {
                    _ = hup.recv() => fwxdp::daemon::Event::Reload,
                    _ = term.recv() => fwxdp::daemon::Event::Stop,
                    _ = int.recv() => fwxdp::daemon::Event::Stop,
                };
                if events.send(event).await.is_err() || event == fwxdp::daemon::Event::Stop {
                    break;
                }
            }
        });
        fwxdp::daemon::run(root, path, receiver).await?;
        Ok(())
    })
}

fn metrics(root: PinRoot, listen: SocketAddr, max_port_series: usize) -> Result<()> {
    require_root()?;
    root.verify()?;
    init_logging();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("start the async runtime")?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .with_context(|| format!("listen on {listen}"))?;
        eprintln!(
            "fwxdp: serving metrics on http://{}/metrics",
            listener.local_addr()?
        );
        let options = fwxdp::metrics::Options { max_port_series };
        let term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .context("handle SIGTERM")?;
        fwxdp::metrics::serve(listener, root, options, shutdown_signal(term))
            .await
            .context("serve metrics")
    })
}

/// Logs to stderr in lines journald stamps itself: no time, no colours.
fn init_logging() {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .without_time()
        .with_target(false)
        .init();
}

/// Completes on SIGINT or SIGTERM.
async fn shutdown_signal(mut term: tokio::signal::unix::Signal) {
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

fn print_json(value: &serde_json::Value) -> Result<()> {
    let mut out = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, value)?;
    writeln!(out)?;
    Ok(())
}
