//! `fwxdp run`: the long-running service.
//!
//! It attaches every configured interface (replacing in place what an earlier run pinned),
//! starts the exporter when configured, and only then tells systemd it is ready. A reload
//! re-reads the config and applies it when valid, keeping the running policy when not. On
//! stop it exits and leaves the filters attached: the filter fails closed, and
//! `fwxdp detach --all` is the explicit off switch.

use std::{collections::BTreeSet, io, path::PathBuf};

use tokio::{sync::mpsc, task::JoinHandle};
use tracing::{error, info, warn};

use crate::{
    attach::{self, AttachError, Request},
    config::{self, Config, ConfigError},
    detach::{self, DetachError},
    iface::{self, IfaceError},
    ingress::error_chain,
    lock::{LockError, StateLock},
    metrics,
    pins::{PinError, PinRoot},
};

/// What the service is asked to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    /// Re-read the config and apply it (SIGHUP).
    Reload,
    /// Exit, leaving the filters in force (SIGTERM, SIGINT).
    Stop,
}

#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Iface(#[from] IfaceError),
    #[error(transparent)]
    Pins(#[from] PinError),
    #[error(transparent)]
    Lock(#[from] LockError),
    #[error("{iface}")]
    Attach {
        iface: String,
        source: Box<AttachError>,
    },
    #[error("{iface}")]
    Detach {
        iface: String,
        source: Box<DetachError>,
    },
    #[error("cannot listen for metrics on {listen}")]
    Listen {
        listen: std::net::SocketAddr,
        source: io::Error,
    },
    #[error("a blocking task of the service failed")]
    Task(#[from] tokio::task::JoinError),
}

/// The service: runs until `events` says stop (or is closed).
///
/// # Errors
/// At start: a bad config, an interface that cannot be attached, an exporter that cannot
/// listen. Later failures are logged and the service keeps running.
pub async fn run(
    root: PinRoot,
    path: PathBuf,
    mut events: mpsc::Receiver<Event>,
) -> Result<(), DaemonError> {
    let config = config::load(&path)?;
    root.ensure()?;
    // A stop while waiting for interfaces must not wait for them.
    {
        let wait = wait_for_interfaces(&config);
        tokio::pin!(wait);
        loop {
            tokio::select! {
                () = &mut wait => break,
                event = events.recv() => match event {
                    Some(Event::Reload) => info!("reload ignored: still waiting for interfaces"),
                    Some(Event::Stop) | None => {
                        info!("stopped while waiting for interfaces");
                        return Ok(());
                    }
                },
            }
        }
    }
    let mut managed = {
        let (root, config) = (root.clone(), config.clone());
        tokio::task::spawn_blocking(move || apply(&root, &config, None, &BTreeSet::new())).await??
    };
    warn_about_others(&root, &managed);
    let mut exporter = Exporter::start(&root, &config).await?;
    notify(&format!("filtering {}", names(&managed)), true);
    info!(config = %path.display(), "ready");

    let mut current = config;
    while let Some(Event::Reload) = events.recv().await {
        info!(config = %path.display(), "reloading");
        let next = match config::load(&path) {
            Ok(next) => next,
            Err(errors) => {
                for line in errors.to_string().lines() {
                    error!("{line}");
                }
                error!("reload refused: the running policy stays in force");
                notify("reload refused: config invalid, running policy kept", false);
                continue;
            }
        };
        let (task_root, task_config, before) = (root.clone(), next.clone(), managed.clone());
        let previous = current.clone();
        let applied = tokio::task::spawn_blocking(move || {
            apply(&task_root, &task_config, Some(&previous), &before)
        });
        match applied.await? {
            Ok(now) => managed = now,
            Err(e) => {
                error!("reload failed: {}", error_chain(&e));
                notify("reload failed, see the log", false);
                continue;
            }
        }
        if next.metrics != current.metrics {
            exporter.stop().await;
            exporter = match Exporter::start(&root, &next).await {
                Ok(exporter) => exporter,
                Err(e) => {
                    error!("metrics: {}", error_chain(&e));
                    Exporter::default()
                }
            };
        }
        current = next;
        notify(&format!("filtering {}", names(&managed)), false);
    }
    info!("stopping; the filters stay attached (fwxdp detach --all removes them)");
    exporter.stop().await;
    Ok(())
}

/// How long the service waits at start for configured interfaces that do not exist yet
/// (it starts before the network, and udev may still be naming devices).
const INTERFACE_WAIT: std::time::Duration = std::time::Duration::from_mins(1);

async fn wait_for_interfaces(config: &Config) {
    let deadline = tokio::time::Instant::now() + INTERFACE_WAIT;
    let mut announced = BTreeSet::new();
    loop {
        let missing: Vec<&str> = config
            .interfaces
            .iter()
            .map(|i| i.name.as_str())
            .filter(|name| iface::index(name).is_none())
            .collect();
        if missing.is_empty() || tokio::time::Instant::now() >= deadline {
            return;
        }
        for name in missing {
            if announced.insert(name.to_owned()) {
                info!(interface = %name, "waiting for the interface to appear");
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

/// Applies `config` under the state lock, all or nothing: every interface is checked first,
/// so a config naming a missing interface changes nothing; then each is attached (in place
/// where attached), and what this service attached before and the config no longer lists is
/// detached. When an interface fails midway, the ones already changed go back to `previous`.
fn apply(
    root: &PinRoot,
    config: &Config,
    previous: Option<&Config>,
    before: &BTreeSet<String>,
) -> Result<BTreeSet<String>, DaemonError> {
    for interface in &config.interfaces {
        iface::filterable_index(&interface.name)?;
    }
    let _lock = StateLock::acquire()?;
    let mut done: Vec<&str> = Vec::new();
    let result = apply_locked(root, config, before, &mut done);
    if let (Err(error), Some(previous)) = (&result, previous) {
        error!(
            "{}; putting back the interfaces already changed",
            error_chain(error)
        );
        roll_back(root, previous, &done);
    }
    result
}

fn apply_locked<'a>(
    root: &PinRoot,
    config: &'a Config,
    before: &BTreeSet<String>,
    done: &mut Vec<&'a str>,
) -> Result<BTreeSet<String>, DaemonError> {
    let mut now = BTreeSet::new();
    for interface in &config.interfaces {
        let request = Request {
            iface: &interface.name,
            policy: &interface.policy,
            monitor: interface.monitor,
            mode: interface.mode,
        };
        let outcome = attach::attach(root, &request).map_err(|source| DaemonError::Attach {
            iface: interface.name.clone(),
            source: Box::new(source),
        })?;
        if let Some(reason) = &outcome.fallback {
            warn!(interface = %outcome.iface, "native XDP is not available ({reason}); using generic XDP");
        }
        if let Some(from) = outcome.switched_from {
            info!(interface = %outcome.iface, from = from.name(), to = outcome.mode.name(), "mode changed");
        }
        info!(
            interface = %outcome.iface,
            mode = outcome.mode.name(),
            allow = %interface.policy.to_specs().join(","),
            monitor = interface.monitor,
            "{}",
            if outcome.replaced { "policy replaced in place" } else { "attached" }
        );
        now.insert(interface.name.clone());
        done.push(&interface.name);
    }
    for gone in before.difference(&now) {
        match detach::detach(root, gone) {
            Ok(()) => info!(interface = %gone, "detached: no longer in the config"),
            Err(DetachError::NotAttached { .. }) => {}
            Err(source) => {
                return Err(DaemonError::Detach {
                    iface: gone.clone(),
                    source: Box::new(source),
                });
            }
        }
    }
    Ok(now)
}

/// Puts the interfaces in `done` back as `previous` had them (or detaches them, when it did
/// not list them). Failures are logged: there is nothing better to do with them.
fn roll_back(root: &PinRoot, previous: &Config, done: &[&str]) {
    for name in done {
        let result = match previous.interfaces.iter().find(|i| i.name == *name) {
            Some(old) => attach::attach(
                root,
                &Request {
                    iface: &old.name,
                    policy: &old.policy,
                    monitor: old.monitor,
                    mode: old.mode,
                },
            )
            .map(drop)
            .map_err(|e| error_chain(&e)),
            None => detach::detach(root, name).map_err(|e| error_chain(&e)),
        };
        match result {
            Ok(()) => info!(interface = %name, "put back as before the reload"),
            Err(e) => error!(interface = %name, "cannot put back: {e}"),
        }
    }
}

/// Interfaces attached under the pin root that the config does not name: attached by hand,
/// so left alone, but worth a line in the log.
fn warn_about_others(root: &PinRoot, managed: &BTreeSet<String>) {
    for other in root.interfaces().unwrap_or_default() {
        if !managed.contains(&other) {
            warn!(interface = %other, "attached outside this config; left as it is");
        }
    }
}

fn names(set: &BTreeSet<String>) -> String {
    if set.is_empty() {
        "no interface".to_owned()
    } else {
        set.iter().cloned().collect::<Vec<_>>().join(", ")
    }
}

/// Tells systemd (when it is listening) the service's status, and that it is ready.
fn notify(text: &str, ready: bool) {
    let mut states = vec![sd_notify::NotifyState::Status(text)];
    if ready {
        states.insert(0, sd_notify::NotifyState::Ready);
    }
    if let Err(e) = sd_notify::notify(false, &states) {
        warn!("cannot notify systemd: {e}");
    }
}

/// The exporter task, when `[metrics]` asks for one.
#[derive(Default)]
struct Exporter {
    task: Option<(tokio::sync::oneshot::Sender<()>, JoinHandle<io::Result<()>>)>,
}

impl Exporter {
    async fn start(root: &PinRoot, config: &Config) -> Result<Self, DaemonError> {
        let Some(settings) = config.metrics else {
            return Ok(Self::default());
        };
        let listener = tokio::net::TcpListener::bind(settings.listen)
            .await
            .map_err(|source| DaemonError::Listen {
                listen: settings.listen,
                source,
            })?;
        info!(listen = %settings.listen, "serving metrics");
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let options = metrics::Options {
            max_port_series: settings.max_port_series,
        };
        let task = tokio::spawn(metrics::serve(listener, root.clone(), options, async {
            let _ = stopped.await;
        }));
        Ok(Self {
            task: Some((stop, task)),
        })
    }

    async fn stop(&mut self) {
        if let Some((stop, task)) = self.task.take() {
            let _ = stop.send(());
            match task.await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => error!("metrics: the exporter failed: {e}"),
                Err(e) => error!("metrics: the exporter task failed: {e}"),
            }
        }
    }
}
