//! The long-running commands: `run` (the service), `metrics` (the exporter alone), and
//! `check` (the service's config, validated).

use std::net::SocketAddr;

use anyhow::{Context as _, Result};
use fwxdp::pins::PinRoot;

pub(crate) fn check(path: &std::path::Path) -> Result<()> {
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

/// The single-threaded runtime the long-running commands use: their work is bpf(2) calls
/// and a few sockets.
fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("start the async runtime")
}

pub(crate) fn service(root: PinRoot, path: std::path::PathBuf) -> Result<()> {
    crate::commands::require_root()?;
    init_logging();
    let runtime = runtime()?;
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

pub(crate) fn metrics(root: PinRoot, listen: SocketAddr, max_port_series: usize) -> Result<()> {
    crate::commands::require_root()?;
    root.verify()?;
    init_logging();
    let runtime = runtime()?;
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

/// Logs to stderr in lines journald stamps itself: no time, no colours. Under journald
/// (systemd sets `JOURNAL_STREAM`), each line starts with its syslog priority (`<3>` for
/// errors...), so that `journalctl -p err` finds the errors.
fn init_logging() {
    let builder = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .without_time()
        .with_target(false);
    if std::env::var_os("JOURNAL_STREAM").is_some() {
        builder.event_format(JournalPriority).init();
    } else {
        builder.init();
    }
}

/// A log line as journald reads it: `<priority>message key=value...`.
struct JournalPriority;

impl<S, N> tracing_subscriber::fmt::FormatEvent<S, N> for JournalPriority
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
    N: for<'a> tracing_subscriber::fmt::FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &tracing_subscriber::fmt::FmtContext<'_, S, N>,
        mut writer: tracing_subscriber::fmt::format::Writer<'_>,
        event: &tracing::Event<'_>,
    ) -> std::fmt::Result {
        let priority = match *event.metadata().level() {
            tracing::Level::ERROR => 3,
            tracing::Level::WARN => 4,
            tracing::Level::INFO => 6,
            tracing::Level::DEBUG | tracing::Level::TRACE => 7,
        };
        write!(writer, "<{priority}>")?;
        ctx.field_format().format_fields(writer.by_ref(), event)?;
        writeln!(writer)
    }
}

/// Completes on SIGINT or SIGTERM.
async fn shutdown_signal(mut term: tokio::signal::unix::Signal) {
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
