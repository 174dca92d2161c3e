//! `fwxdp run`: the long-running service.
//!
//! It attaches every interface its config covers, starts the exporter when configured, and
//! only then tells systemd it is ready. It then watches the kernel's interface events and
//! attaches every covered interface that appears, is renamed or is made again. A reload
//! re-reads the config and applies it when valid, keeping the running policy when not. On
//! stop it exits and leaves the filters attached: the filter fails closed, and
//! `fwxdp detach --all` is the explicit off switch.

use std::{
    path::{Path, PathBuf},
    sync::Arc,
};

use tokio::sync::mpsc;
use tracing::{error, info, warn};

use super::{
    apply::{self, Applied, Managed, warn_about_others},
    config::{self, ConfigError, ServiceConfig},
    control, droplog,
    error::DaemonError,
    exporter::ExporterTask,
    last_good::LastGood,
    notify, ssh_guard,
    unconfirmed::{self, Places, Unconfirmed},
};
use crate::{
    attach::Spares,
    error, metrics,
    netlink::{self, LinkEvents, NetlinkError},
    state::PinRoot,
};

/// What the service is asked to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    /// Re-read the config and apply it (SIGHUP).
    Reload,
    /// Exit, leaving the filters in force (SIGTERM, SIGINT).
    Stop,
}

/// Where the service finds and keeps things.
#[derive(Clone, Debug)]
pub struct Settings {
    pub root: PinRoot,
    /// The config file.
    pub config: PathBuf,
    /// Where the last good config is kept.
    pub state_dir: PathBuf,
    /// Where the outcome of each reload is written for `fwxdp reload`.
    pub run_dir: PathBuf,
}

/// The running service's state.
pub(super) struct Service {
    pub(super) settings: Settings,
    pub(super) last_good: LastGood,
    pub(super) current: Arc<ServiceConfig>,
    pub(super) managed: Managed,
    pub(super) unattached: metrics::Unattached,
    pub(super) exporter: ExporterTask,
    pub(super) reloads: u64,
    /// A fresh instance verified ahead of need, for the next interface that appears.
    pub(super) spares: Spares,
    /// A reload made with `--confirm`, waiting for `fwxdp confirm`.
    pub(super) unconfirmed: Option<Unconfirmed>,
}

/// The service: runs until `events` says stop (or is closed).
///
/// # Errors
/// At start: no usable config (neither the file nor a last good one), nothing attached
/// where something should be ([`DaemonError::NothingFiltered`]), an exporter that cannot
/// listen. Later failures are logged and the service keeps running.
pub async fn run(settings: Settings, mut events: mpsc::Receiver<Event>) -> Result<(), DaemonError> {
    let last_good = LastGood::new(&settings.state_dir);
    let (text, config, from_file) = start_config(&settings.config, &last_good)?;
    let places = Places {
        config: &settings.config,
        state_dir: &settings.state_dir,
        run_dir: &settings.run_dir,
        root: &settings.root,
    };
    let unconfirmed::Start {
        text,
        config,
        keep,
        unconfirmed,
    } = unconfirmed::at_start(&places, &last_good, text, config, from_file);
    settings.root.ensure()?;
    // Subscribed before the interfaces are listed: nothing falls between the two.
    let mut link_events = LinkEvents::open()?;
    let links = netlink::links::list()?;
    let config = Arc::new(config);
    // Made while the present interfaces are attached: ready for one that appears next.
    let spares = Spares::new(settings.root.block_pins());
    refill(&spares);
    let applied = {
        let (root, config) = (settings.root.clone(), config.clone());
        tokio::task::spawn_blocking(move || {
            apply::apply(&root, &config, None, &Managed::new(), &links)
        })
        .await??
    };
    if applied.managed.is_empty() && !applied.failed.is_empty() {
        return Err(DaemonError::NothingFiltered {
            failed: applied
                .failed
                .keys()
                .cloned()
                .collect::<Vec<_>>()
                .join(", "),
        });
    }
    if keep {
        last_good.keep(&text);
    }
    warn_about_others(&settings.root, &applied.managed);
    if let Err(e) = droplog::start(settings.root.clone(), &settings.run_dir) {
        // The filter does not depend on it: say so and go on.
        error!("the drop log cannot be served: {e}");
    }
    let unattached = metrics::Unattached::default();
    let exporter = ExporterTask::start(&settings.root, &config, unattached.clone()).await?;
    let mut service = Service {
        settings,
        last_good,
        current: config,
        managed: Managed::new(),
        unattached,
        exporter,
        reloads: 0,
        spares,
        unconfirmed,
    };
    service.settle(applied);
    service.publish(true, Vec::new(), "started");
    notify(&[sd_notify::NotifyState::Ready]);
    service.report_status();
    info!(config = %service.settings.config.display(), "ready");

    // While a reload waits for confirmation: whether it came, or the deadline.
    let mut confirmation = tokio::time::interval(std::time::Duration::from_millis(500));
    loop {
        tokio::select! {
            _ = confirmation.tick(), if service.unconfirmed.is_some() => {
                service.watch_confirmation().await;
            }
            event = events.recv() => match event {
                Some(Event::Reload) => service.reload().await,
                Some(Event::Stop) | None => break,
            },
            batch = link_events.next() => match batch {
                Ok(batch) => service.on_links(batch).await,
                Err(NetlinkError::Overrun) => {
                    warn!("interface events were lost; reading every interface again");
                    service.resync().await;
                }
                Err(e) => {
                    error!("interface events: {}; subscribing again and reading every interface", error::chain(&e));
                    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                    // A fresh socket, subscribed before the list is read again; when that
                    // fails too, the old one is tried once more after the next error.
                    match LinkEvents::open() {
                        Ok(fresh) => link_events = fresh,
                        Err(e) => error!("{}", error::chain(&e)),
                    }
                    service.resync().await;
                }
            },
        }
    }
    info!("stopping; the filters stay attached (fwxdp detach --all removes them)");
    service.exporter.stop().await;
    Ok(())
}

/// The config to start with: the file, or when it is unusable the last config applied
/// successfully. The flag says whether it is the file's.
fn start_config(
    path: &Path,
    last_good: &LastGood,
) -> Result<(String, ServiceConfig, bool), DaemonError> {
    let error = match config::load_text(path) {
        Ok((text, config)) => {
            warn_config(path, &config);
            return Ok((text, config, true));
        }
        Err(error) => error,
    };
    log_problems(&error);
    match last_good.load() {
        Ok((text, config)) => {
            error!(
                "{} is unusable: applying the last config applied successfully ({}); fix \
                 the file and reload",
                path.display(),
                last_good.path().display()
            );
            Ok((text, config, false))
        }
        Err(_) => Err(DaemonError::Config(error)),
    }
}

fn log_problems(error: &ConfigError) {
    for line in error.to_string().lines() {
        error!("{line}");
    }
}

impl Service {
    /// Takes `applied` as the state in force.
    pub(super) fn settle(&mut self, applied: Applied) {
        self.managed = applied.managed;
        if let Ok(mut unattached) = self.unattached.lock() {
            *unattached = applied.failed;
        }
    }

    fn unattached(&self) -> Vec<String> {
        self.unattached
            .lock()
            .map(|u| u.keys().cloned().collect())
            .unwrap_or_default()
    }

    pub(super) fn report_status(&self) {
        let filtering = names(self.managed.keys());
        let failed = self.unattached();
        let text = if failed.is_empty() {
            format!("filtering {filtering}")
        } else {
            format!("filtering {filtering}; NOT filtering {}", failed.join(", "))
        };
        notify(&[sd_notify::NotifyState::Status(&text)]);
    }

    /// Writes the outcome of the latest reload, with the requests it answers, for
    /// `fwxdp reload`.
    fn publish(&self, ok: bool, answers: Vec<String>, message: &str) {
        let outcome = control::Outcome {
            pid: i32::try_from(std::process::id()).unwrap_or(i32::MAX),
            sequence: self.reloads,
            ok,
            answers,
            message: message.to_owned(),
        };
        if let Err(e) = outcome.publish(&self.settings.run_dir) {
            warn!(
                "cannot write the reload outcome into {}: {e}",
                self.settings.run_dir.display()
            );
        }
    }

    async fn reload(&mut self) {
        self.reloads += 1;
        // Taken before the config is read: each is answered by a reload that read the file
        // after the request was made.
        let requests = control::take_requests(&self.settings.run_dir);
        // The most careful of the windows asked for.
        let window = requests.iter().filter_map(|r| r.confirm).min();
        let answers = requests.into_iter().map(|r| r.nonce).collect();
        notify_reloading();
        let path = self.settings.config.clone();
        info!(config = %path.display(), "reloading");
        let outcome = self.try_reload(&path, window).await;
        match &outcome {
            Ok(message) => {
                info!("{message}");
                self.publish(true, answers, message);
            }
            Err(message) => {
                error!("reload refused: {message}; the running policy stays in force");
                self.publish(false, answers, message);
            }
        }
        notify(&[sd_notify::NotifyState::Ready]);
        self.report_status();
    }

    async fn try_reload(
        &mut self,
        path: &Path,
        window: Option<std::time::Duration>,
    ) -> Result<String, String> {
        if self.unconfirmed.is_some() {
            return Err(
                "a reload waits for confirmation: `fwxdp confirm` it, or let it revert, first"
                    .to_owned(),
            );
        }
        let (text, next) = match config::load_text(path) {
            Ok(loaded) => loaded,
            Err(errors) => {
                log_problems(&errors);
                return Err(format!("{} is invalid", path.display()));
            }
        };
        warn_config(path, &next);
        let sessions = crate::policy::sessions::established_ssh();
        let links = netlink::links::list().map_err(|e| error::chain(&e))?;
        ssh_guard::check(&next, &sessions, |addr| {
            ssh_guard::devices_carrying(addr, &links)
        })?;
        let next = Arc::new(next);
        let change = match window {
            Some(window) => Some(self.begin_confirmed(&next, &text, window, &links).await?),
            None => None,
        };
        let (root, task_config, previous, before) = (
            self.settings.root.clone(),
            next.clone(),
            self.current.clone(),
            self.managed.clone(),
        );
        let applied = tokio::task::spawn_blocking(move || {
            apply::apply(&root, &task_config, Some(&previous), &before, &links)
        })
        .await
        .map_err(|e| error::chain(&e))
        .and_then(|applied| applied.map_err(|e| error::chain(&e)));
        let applied = match applied {
            Ok(applied) => applied,
            Err(e) => {
                // What the reload changed is put back already: the change ends here.
                if let Some(change) = &change {
                    self.drop_change(change).await;
                }
                return Err(e);
            }
        };
        self.settle(applied);
        let confirm_note = if let Some(change) = change {
            let note = format!(
                "; reverts in {} s unless `fwxdp confirm` comes first",
                change.remaining()
            );
            self.await_confirmation(change, text);
            note
        } else {
            self.last_good.keep(&text);
            unconfirmed::clear_marker(&self.settings.state_dir);
            String::new()
        };
        self.exporter
            .switch(
                &self.settings.root,
                &self.current,
                &next,
                self.unattached.clone(),
            )
            .await;
        self.current = next;
        Ok(format!(
            "reloaded: filtering {}{confirm_note}",
            names(self.managed.keys())
        ))
    }
}

/// Logs what the config says that is valid but probably not meant.
fn warn_config(path: &Path, config: &ServiceConfig) {
    for problem in &config.warnings {
        warn!("{}", problem.at(path));
    }
}

fn names<'a>(set: impl Iterator<Item = &'a String>) -> String {
    let all: Vec<&str> = set.map(String::as_str).collect();
    if all.is_empty() {
        "no interface".to_owned()
    } else {
        all.join(", ")
    }
}

/// Makes a spare instance in the background, unless one is ready or being made. Until it is
/// ready, an interface that appears loads its own (tens of milliseconds slower).
pub(super) fn refill(spares: &Spares) {
    let spares = spares.clone();
    tokio::task::spawn_blocking(move || match spares.fill() {
        Ok(true) => info!("prepared a verified instance for the next interface that appears"),
        Ok(false) => {}
        Err(e) => warn!(
            "cannot prepare a spare instance ({}); interfaces that appear load their own",
            error::chain(&e)
        ),
    });
}

/// Tells systemd (when it is listening) `states`.
fn notify(states: &[sd_notify::NotifyState<'_>]) {
    notify::send(states);
}

/// Tells systemd a reload has begun, stamped as `Type=notify-reload` wants it.
fn notify_reloading() {
    let mut states = vec![sd_notify::NotifyState::Reloading];
    states.extend(sd_notify::NotifyState::monotonic_usec_now().ok());
    notify(&states);
}
