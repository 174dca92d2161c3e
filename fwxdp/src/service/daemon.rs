//! `fwxdp run`: the long-running service.
//!
//! It attaches every configured interface (replacing in place what an earlier run pinned),
//! starts the exporter when configured, and only then tells systemd it is ready. A reload
//! re-reads the config and applies it when valid, keeping the running policy when not. On
//! stop it exits and leaves the filters attached: the filter fails closed, and
//! `fwxdp detach --all` is the explicit off switch.

use std::{collections::BTreeSet, path::PathBuf};

use tokio::sync::mpsc;
use tracing::{error, info, warn};

use super::{
    apply::{apply, warn_about_others},
    config::{self, ServiceConfig},
    error::DaemonError,
    exporter::ExporterTask,
};
use crate::{error, iface, state::PinRoot};

/// What the service is asked to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    /// Re-read the config and apply it (SIGHUP).
    Reload,
    /// Exit, leaving the filters in force (SIGTERM, SIGINT).
    Stop,
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
    warn_config(&path, &config);
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
    let mut exporter = ExporterTask::start(&root, &config).await?;
    notify(&format!("filtering {}", names(&managed)), true);
    info!(config = %path.display(), "ready");

    let mut current = config;
    while let Some(Event::Reload) = events.recv().await {
        info!(config = %path.display(), "reloading");
        let next = match config::load(&path) {
            Ok(next) => {
                warn_config(&path, &next);
                next
            }
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
                error!("reload failed: {}", error::chain(&e));
                notify("reload failed, see the log", false);
                continue;
            }
        }
        if next.metrics != current.metrics {
            exporter.stop().await;
            exporter = match ExporterTask::start(&root, &next).await {
                Ok(exporter) => exporter,
                Err(e) => {
                    error!("metrics: {}", error::chain(&e));
                    ExporterTask::default()
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

/// Logs what the config says that is valid but probably not meant.
fn warn_config(path: &std::path::Path, config: &ServiceConfig) {
    for problem in &config.warnings {
        warn!("{}", problem.at(path));
    }
}

/// How long the service waits at start for configured interfaces that do not exist yet
/// (it starts before the network, and udev may still be naming devices).
const INTERFACE_WAIT: std::time::Duration = std::time::Duration::from_mins(1);

async fn wait_for_interfaces(config: &ServiceConfig) {
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
