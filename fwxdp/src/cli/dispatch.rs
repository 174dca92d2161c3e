//! Runs each command: validates its input before touching anything, takes the state lock
//! where it reads or changes pins, and renders the result.

use std::{net::SocketAddr, path::Path};

use serde_json::json;

use super::{
    args::{AttachArgs, BlockArgs, Cli, Command, DetachArgs, UnblockArgs},
    confirm, edit,
    error::{CliError, UsageError},
    persist,
    process::{hold_signals, require_root},
    render, targets,
};
use crate::{
    attach::{self, Request},
    iface, metrics,
    policy::{Policy, lockout},
    report::{self, PerInterface},
    service::{self, logging, runtime},
    state::{PinRoot, StateLock},
};

/// Runs the command `cli` names.
pub fn run(cli: Cli) -> Result<(), CliError> {
    let root = PinRoot::new(cli.pin_root);
    let run_dir = cli.run_dir;
    match cli.command {
        Command::Attach(args) => attach(&root, &run_dir, &args),
        Command::Allow(args) => edit::run(&root, &run_dir, &args, edit::Change::Allow),
        Command::Revoke(args) => edit::run(&root, &run_dir, &args, edit::Change::Revoke),
        Command::Detach(args) => detach(&root, &run_dir, &args),
        Command::Confirm => confirm::keep(&root, &run_dir),
        Command::RevertPending { id, deadline } => {
            confirm::revert_pending(&root, &run_dir, &id, deadline)
        }
        Command::Status { json } => status(&root, &run_dir, json),
        Command::Stats { iface, json } => stats(&root, iface.as_deref(), json),
        Command::Audit { json } => audit(&root, json),
        Command::Block(args) => block(&root, &args),
        Command::Unblock(args) => unblock(&root, &args),
        Command::Blocks { json } => blocks(&root, json),
        Command::Log { follow, json } => log(&root, follow, json, &run_dir),
        Command::Run { config, state_dir } => serve(service::Settings {
            root,
            config,
            state_dir,
            run_dir,
        }),
        Command::Reload { pid, confirm } => reload(&run_dir, pid, confirm),
        Command::Check { config } => check(&config),
        Command::Completions { shell } => {
            super::output::raw(&super::docs::completions(shell));
            Ok(())
        }
        Command::ManPages { dir } => {
            for page in super::docs::man_pages(&dir)? {
                say!("{}", dir.join(format!("{page}.8")).display());
            }
            Ok(())
        }
        Command::Save { config } => persist::save_to(&root, &config),
        Command::Diff { config } => persist::diff(&root, &config),
        Command::Metrics {
            listen,
            max_port_series,
        } => export(root, listen, max_port_series),
    }
}

fn block(root: &PinRoot, args: &BlockArgs) -> Result<(), CliError> {
    let targets = targets::parse(&args.targets, args.all)?;
    let duration = args.duration.map(std::time::Duration::from);
    if !args.force {
        lockout::check_block(&targets.nets).map_err(UsageError::from)?;
    }
    require_root()?;
    let _lock = StateLock::acquire()?;
    let mut list = attach::blocks::open_or_make(root)?;
    for scope in &targets.scopes {
        for &net in &targets.nets {
            list.insert(scope, net, duration)?;
            render::blocked(scope, net, duration);
        }
    }
    Ok(())
}

fn unblock(root: &PinRoot, args: &UnblockArgs) -> Result<(), CliError> {
    let targets = targets::parse(&args.targets, args.all)?;
    require_root()?;
    let _lock = StateLock::acquire()?;
    let Some(mut list) = attach::blocks::open(root)? else {
        for scope in &targets.scopes {
            for &net in &targets.nets {
                render::unblocked(scope, net, false);
            }
        }
        return Ok(());
    };
    for scope in &targets.scopes {
        for &net in &targets.nets {
            let was = list.remove(scope, net)?;
            render::unblocked(scope, net, was);
        }
    }
    // Expired entries go too: the program looks past them, but they take room.
    list.prune()?;
    Ok(())
}

fn blocks(root: &PinRoot, json: bool) -> Result<(), CliError> {
    // No lock: a reader never waits for a writer.
    let now = crate::state::blocks::now_ns();
    let entries = match attach::blocks::open(root)? {
        Some(list) => list.entries()?,
        None => Vec::new(),
    };
    let in_force: Vec<_> = entries
        .into_iter()
        .filter(|b| b.expires_ns.is_none_or(|end| end > now))
        .collect();
    if json {
        let list: Vec<_> = in_force
            .iter()
            .map(|b| {
                json!({
                    "scope": b.scope.to_string(),
                    "network": b.net.to_string(),
                    "expires_in_s": b.expires_ns.map(|end| (end - now) / 1_000_000_000),
                })
            })
            .collect();
        say!("{}", json!({ "blocks": list }));
    } else {
        render::blocks(&in_force, now);
    }
    Ok(())
}

fn log(root: &PinRoot, follow: bool, json: bool, run_dir: &Path) -> Result<(), CliError> {
    let print = |entry: &serde_json::Value| {
        if json {
            say!("{entry}");
        } else {
            say!(
                "{} {}",
                entry["time"].as_str().unwrap_or(""),
                entry["line"].as_str().unwrap_or("")
            );
        }
    };
    // The service reads the rings when it runs: ask it, or the events would be split.
    if let Ok(mut service) =
        std::os::unix::net::UnixStream::connect(service::droplog::socket_path(run_dir))
    {
        use std::io::{BufRead as _, Write as _};
        let request = if follow { "follow\n" } else { "history\n" };
        service
            .write_all(request.as_bytes())
            .map_err(CliError::LogService)?;
        let _: std::io::Result<()> = service.shutdown(std::net::Shutdown::Write);
        for line in std::io::BufReader::new(service).lines() {
            let line = line.map_err(CliError::LogService)?;
            if let Ok(entry) = serde_json::from_str::<serde_json::Value>(&line) {
                print(&entry);
            }
            super::output::outcome()?;
        }
        return Ok(());
    }
    require_root()?;
    let mut readers = Vec::new();
    let mut scanned: Option<std::time::Instant> = None;
    loop {
        // Again now and then: an interface attached afresh has a new ring.
        if scanned.is_none_or(|t| t.elapsed() >= std::time::Duration::from_secs(2)) {
            scanned = Some(std::time::Instant::now());
            readers = crate::state::droplog::open_all(root).0;
        }
        for reader in &mut readers {
            for entry in reader.drain() {
                print(&report::droplog::json(&entry));
            }
        }
        super::output::outcome()?;
        if !follow {
            return Ok(());
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}

fn check_names(ifaces: &[String]) -> Result<(), UsageError> {
    for name in ifaces {
        iface::check_name(name).map_err(UsageError::InterfaceName)?;
    }
    Ok(())
}

fn attach(root: &PinRoot, run_dir: &Path, args: &AttachArgs) -> Result<(), CliError> {
    // Validate everything before touching anything.
    let policy = Policy::parse_with_limits(&args.allow, &args.limit).map_err(UsageError::from)?;
    if !args.force {
        lockout::check(&policy).map_err(UsageError::from)?;
    }
    check_names(&args.ifaces)?;
    require_root()?;
    // Every interface checked before any is changed: nothing half-applied.
    for name in &args.ifaces {
        let index = iface::filterable_index(name)?;
        attach::framing::of(index, name).map_err(|source| CliError::Attach {
            iface: name.clone(),
            source: Box::new(source.into()),
        })?;
    }
    hold_signals()?;
    let _lock = StateLock::acquire()?;
    confirm::settle(root, run_dir)?;
    let change = confirm::begin(root, run_dir, &args.ifaces, args.window.confirm)?;
    for name in &args.ifaces {
        let request = Request {
            iface: name,
            policy: &policy,
            monitor: args.monitor,
            log_rate: args.log_rate,
            mode: args.mode,
            spares: None,
        };
        let outcome = attach::attach(root, &request).map_err(|source| {
            confirm::abandon(root, run_dir, change.as_ref());
            CliError::Attach {
                iface: name.clone(),
                source: Box::new(source),
            }
        })?;
        render::outcome(&outcome, &policy, args.monitor);
    }
    confirm::announce(change.as_ref());
    Ok(())
}

fn detach(root: &PinRoot, run_dir: &Path, args: &DetachArgs) -> Result<(), CliError> {
    check_names(&args.ifaces)?;
    require_root()?;
    hold_signals()?;
    let _lock = StateLock::acquire()?;
    confirm::settle(root, run_dir)?;
    let ifaces = if args.all {
        crate::state::PinnedInterface::all(root)?
            .iter()
            .map(|p| p.name().to_owned())
            .collect()
    } else {
        args.ifaces.clone()
    };
    let change = confirm::begin(root, run_dir, &ifaces, args.window.confirm)?;
    if args.all {
        let detached = attach::detach_all(root).inspect_err(|_| {
            confirm::abandon(root, run_dir, change.as_ref());
        })?;
        if detached.is_empty() {
            say!("nothing was attached");
        }
        for iface in detached {
            say!("{iface}: detached");
        }
    } else {
        for iface in &ifaces {
            attach::detach(root, iface).inspect_err(|_| {
                confirm::abandon(root, run_dir, change.as_ref());
            })?;
            say!("{iface}: detached");
        }
    }
    confirm::announce(change.as_ref());
    Ok(())
}

fn status(root: &PinRoot, run_dir: &Path, json: bool) -> Result<(), CliError> {
    require_root()?;
    // No lock: a reader never waits for a writer. Pins appear whole (staging is renamed
    // into place) and a policy switch is one config write.
    let results = report::status(root)?;
    let unfiltered: Vec<String> = results
        .iter()
        .filter_map(|(_, result)| result.as_ref().ok())
        .filter(|s| !s.filtering)
        .map(|s| s.interface.clone())
        .collect();
    let filtered: Vec<&str> = results
        .iter()
        .filter_map(|(_, result)| result.as_ref().ok())
        .filter(|s| s.filtering)
        .map(|s| s.interface.as_str())
        .collect();
    // A help, not the verdict: a listing that fails only leaves the warnings out.
    let links = crate::netlink::links::list().unwrap_or_default();
    let tunnels = report::unfiltered_tunnels(&links, &filtered);
    // A help too: an unreadable record is left out, its reverter still holds the deadline.
    let waiting = crate::confirm::pending(run_dir, root).ok().flatten();
    let (interfaces, errors) = render::split(results);
    if json {
        render::json(&json!({
            "interfaces": interfaces,
            "errors": errors,
            "unfiltered_tunnels": tunnels,
            "pending_confirmation": waiting.as_ref().map(|w| json!({
                "what": w.what,
                "interfaces": w.before.iter().map(|b| b.iface.as_str()).collect::<Vec<_>>(),
                "reverts_in_s": w.remaining(),
            })),
        }))?;
    } else {
        if interfaces.is_empty() && errors.is_empty() {
            say!("no interface is attached");
        }
        interfaces.iter().for_each(render::status);
        render::tunnels(&tunnels);
        if let Some(w) = &waiting {
            say!(
                "waiting for `fwxdp confirm`: `{}` reverts in {} s",
                w.what,
                w.remaining()
            );
        }
    }
    render::unreadable(&errors)?;
    if unfiltered.is_empty() {
        Ok(())
    } else {
        Err(CliError::Unfiltered {
            names: unfiltered.join(", "),
        })
    }
}

fn audit(root: &PinRoot, json: bool) -> Result<(), CliError> {
    require_root()?;
    let audit = report::audit::audit(root)?;
    if json {
        render::json(&serde_json::to_value(&audit).map_err(|e| CliError::Output(e.into()))?)?;
    } else {
        render::audit(&audit);
    }
    Ok(())
}

fn stats(root: &PinRoot, iface: Option<&str>, json: bool) -> Result<(), CliError> {
    require_root()?;
    show(report::stats(root, iface)?, json, render::stats)
}

/// Shows what each interface reported (as JSON, or with `print`), names every interface
/// that could not be read, and fails when there was one.
fn show<T: serde::Serialize>(
    results: Vec<PerInterface<T>>,
    json: bool,
    print: fn(&T),
) -> Result<(), CliError> {
    let (interfaces, errors) = render::split(results);
    if json {
        render::json(&json!({ "interfaces": interfaces, "errors": errors }))?;
    } else {
        if interfaces.is_empty() && errors.is_empty() {
            say!("no interface is attached");
        }
        interfaces.iter().for_each(print);
    }
    render::unreadable(&errors)
}

fn check(path: &Path) -> Result<(), CliError> {
    let config = service::config::load(path).map_err(UsageError::from)?;
    // What each table covers on this host now; the list is only a help, so not fatal.
    let links = crate::netlink::links::list().unwrap_or_default();
    render::config(path, &config, &links);
    Ok(())
}

fn serve(settings: service::Settings) -> Result<(), CliError> {
    require_root()?;
    logging::init();
    runtime::raise_descriptor_limit();
    runtime::build()?.block_on(async move {
        let events = runtime::signal_events()?;
        service::run(settings, events).await?;
        Ok(())
    })
}

fn reload(
    run_dir: &Path,
    pid: Option<i32>,
    confirm: Option<humantime::Duration>,
) -> Result<(), CliError> {
    let message = service::control::reload(run_dir, pid, confirm.map(Into::into))?;
    say!("{message}");
    Ok(())
}

fn export(root: PinRoot, listen: SocketAddr, max_port_series: usize) -> Result<(), CliError> {
    require_root()?;
    root.verify()?;
    logging::init();
    runtime::raise_descriptor_limit();
    runtime::build()?.block_on(async move {
        let listen_error = |source| CliError::Listen { listen, source };
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .map_err(listen_error)?;
        let local = listener.local_addr().map_err(listen_error)?;
        eprintln!("fwxdp: serving metrics on http://{local}/metrics");
        let options = metrics::Options {
            max_port_series,
            ..metrics::Options::default()
        };
        metrics::serve(listener, root, options, runtime::shutdown_signal()?)
            .await
            .map_err(CliError::Serve)
    })
}
