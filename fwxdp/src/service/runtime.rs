//! What the long-running commands run on: a single-threaded tokio runtime (their work is
//! bpf(2) calls and a few sockets), and signals turned into service events.

use std::io;

use tokio::{
    signal::unix::{Signal, SignalKind, signal},
    sync::mpsc,
};

use super::daemon::Event;

#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("start the async runtime")]
    Start(#[source] io::Error),
    #[error("handle {signal}")]
    Signal {
        signal: &'static str,
        source: io::Error,
    },
}

/// Raises this process's descriptor limit to its hard limit (at most 65,536; the unit's
/// `LimitNOFILE` sets both): the exporter's connection cap is sized from it, with room left
/// for reloads. A failure leaves the limit as it was, and the cap follows it.
pub fn raise_descriptor_limit() {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    if let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE) {
        let want = hard.min(65_536);
        if want > soft {
            let _: nix::Result<()> = setrlimit(Resource::RLIMIT_NOFILE, want, hard);
        }
    }
}

/// The single-threaded runtime the long-running commands use.
pub fn build() -> Result<tokio::runtime::Runtime, RuntimeError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(RuntimeError::Start)
}

fn handle(kind: SignalKind, name: &'static str) -> Result<Signal, RuntimeError> {
    signal(kind).map_err(|source| RuntimeError::Signal {
        signal: name,
        source,
    })
}

/// The service's events: SIGHUP asks for a reload, SIGTERM and SIGINT for a stop. Call it
/// inside the runtime.
pub fn signal_events() -> Result<mpsc::Receiver<Event>, RuntimeError> {
    let (events, receiver) = mpsc::channel(4);
    let mut hup = handle(SignalKind::hangup(), "SIGHUP")?;
    let mut term = handle(SignalKind::terminate(), "SIGTERM")?;
    let mut int = handle(SignalKind::interrupt(), "SIGINT")?;
    tokio::spawn(async move {
        loop {
            let event = tokio::select! {
                _ = hup.recv() => Event::Reload,
                _ = term.recv() => Event::Stop,
                _ = int.recv() => Event::Stop,
            };
            if events.send(event).await.is_err() || event == Event::Stop {
                break;
            }
        }
    });
    Ok(receiver)
}

/// Completes on SIGINT or SIGTERM. Call it inside the runtime.
pub fn shutdown_signal() -> Result<impl Future<Output = ()> + Send + 'static, RuntimeError> {
    let mut term = handle(SignalKind::terminate(), "SIGTERM")?;
    Ok(async move {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    })
}
