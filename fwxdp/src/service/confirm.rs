//! The service's part in `fwxdp reload --confirm`: recording the reload before it applies,
//! and watching for the confirmation or the deadline (see [`super::unconfirmed`]).

use std::{sync::Arc, time::Duration};

use tracing::{error, info, warn};

use super::{
    apply::{self, Managed},
    config::ServiceConfig,
    daemon::Service,
    unconfirmed::{Standing, Unconfirmed, clear_marker, mark, standing},
};
use crate::{
    confirm::{self, Ended, Pending, ServiceReload},
    error,
    netlink::{self, Link},
    state::{PinnedInterface, StateLock},
};

/// How a revert the service attempted came out.
enum Outcome {
    /// `fwxdp confirm` came first.
    Confirmed,
    /// Put back (here or by its reverter).
    Reverted,
}

impl Service {
    /// Before a reload with a `window` applies `next` (whose text is `text`): records the
    /// interfaces it may change (every attached one, and every present one `next`
    /// covers), arranges the revert, and marks the file unconfirmed.
    pub(super) async fn begin_confirmed(
        &mut self,
        next: &ServiceConfig,
        text: &str,
        window: Duration,
        links: &[Link],
    ) -> Result<Pending, String> {
        let root = self.settings.root.clone();
        let run_dir = self.settings.run_dir.clone();
        let covered: Vec<String> = links
            .iter()
            .filter(|l| !l.loopback && next.rule_for(&l.name).is_some())
            .map(|l| l.name.clone())
            .collect();
        let what = format!("reload of {}", self.settings.config.display());
        let pid = i32::try_from(std::process::id()).unwrap_or(i32::MAX);
        let change = tokio::task::spawn_blocking(move || {
            let _lock = StateLock::acquire().map_err(|e| error::chain(&e))?;
            confirm::settle_overdue(&run_dir, &root).map_err(|e| error::chain(&e))?;
            // Under the lock: nothing is attached between this list and the record.
            let mut ifaces: Vec<String> = PinnedInterface::all(&root)
                .map_err(|e| error::chain(&e))?
                .iter()
                .map(|p| p.name().to_owned())
                .collect();
            for name in covered {
                if !ifaces.contains(&name) {
                    ifaces.push(name);
                }
            }
            confirm::begin(
                &run_dir,
                &root,
                &ifaces,
                window,
                what,
                Some(ServiceReload { pid }),
            )
            .map_err(|e| error::chain(&e))
        })
        .await
        .map_err(|e| error::chain(&e))??;
        if let Err(e) = mark(&self.settings.state_dir, text) {
            self.drop_change(&change).await;
            return Err(format!(
                "cannot mark the config as unconfirmed in {}: {e}",
                self.settings.state_dir.display()
            ));
        }
        Ok(change)
    }

    /// After a reload with a window was applied: it waits for confirmation.
    pub(super) fn await_confirmation(&mut self, change: Pending, text: String) {
        self.unconfirmed = Some(Unconfirmed {
            change,
            previous: self.current.clone(),
            text,
        });
    }

    /// A reload with a window failed (and put back what it changed): its change ends, as
    /// reverted.
    pub(super) async fn drop_change(&self, change: &Pending) {
        clear_marker(&self.settings.state_dir);
        let (root, run_dir, change) = (
            self.settings.root.clone(),
            self.settings.run_dir.clone(),
            change.clone(),
        );
        let dropped = tokio::task::spawn_blocking(move || {
            let _lock = StateLock::acquire().map_err(|e| error::chain(&e))?;
            match confirm::pending(&run_dir, &root) {
                Ok(Some(waiting)) if waiting.id == change.id => {
                    confirm::end(&run_dir, &root, &change, Vec::new())
                        .map(drop)
                        .map_err(|e| error::chain(&e))
                }
                _ => Ok(()),
            }
        })
        .await;
        if let Ok(Err(e)) = dropped {
            warn!("{e}");
        }
    }

    /// Acts on where the reload waiting for confirmation stands.
    pub(super) async fn watch_confirmation(&mut self) {
        let Some(unconfirmed) = &self.unconfirmed else {
            return;
        };
        match standing(&self.settings.run_dir, &self.settings.root, unconfirmed) {
            Standing::Waiting => {}
            Standing::Confirmed => self.keep_confirmed(),
            Standing::Due => self.revert_reload().await,
        }
    }

    fn keep_confirmed(&mut self) {
        if let Some(unconfirmed) = self.unconfirmed.take() {
            self.last_good.keep(&unconfirmed.text);
            clear_marker(&self.settings.state_dir);
            info!("the reload was confirmed: its config is the last good one now");
        }
    }

    /// Puts every interface back as the record has it (under the lock, unless its reverter
    /// did, or a confirmation came first) and goes back to the config in force before.
    async fn revert_reload(&mut self) {
        let Some(unconfirmed) = &self.unconfirmed else {
            return;
        };
        let (root, run_dir, change) = (
            self.settings.root.clone(),
            self.settings.run_dir.clone(),
            unconfirmed.change.clone(),
        );
        let outcome = tokio::task::spawn_blocking(move || {
            let _lock = StateLock::acquire().map_err(|e| error::chain(&e))?;
            match confirm::pending(&run_dir, &root).map_err(|e| error::chain(&e))? {
                Some(now) if now.id == change.id => {}
                // Another change's record: this one is over.
                Some(_) => return Ok(Outcome::Reverted),
                None => match confirm::ended(&run_dir, &root, &change.id) {
                    Ended::Confirmed => return Ok(Outcome::Confirmed),
                    Ended::Reverted => return Ok(Outcome::Reverted),
                    // Lost: put back from the record as the service made it.
                    Ended::Unknown => {}
                },
            }
            let reverted =
                confirm::revert_now(&run_dir, &root, &change).map_err(|e| error::chain(&e))?;
            if !reverted.failed.is_empty() {
                error!("not put back: {}", reverted.failed.join("; "));
            }
            Ok::<_, String>(Outcome::Reverted)
        })
        .await
        .map_err(|e| error::chain(&e))
        .and_then(|r| r);
        match outcome {
            // A confirmation came just before the revert could: kept.
            Ok(Outcome::Confirmed) => {
                self.keep_confirmed();
                return;
            }
            Ok(Outcome::Reverted) => {}
            Err(e) => error!("the reload could not be reverted: {e}"),
        }
        let Some(unconfirmed) = self.unconfirmed.take() else {
            return;
        };
        self.adopt(unconfirmed.previous).await;
        error!(
            "the reload was not confirmed within its window: back to the config in force before"
        );
    }

    /// Takes `previous` as the config in force again, once the pins are put back: its
    /// interfaces are attached as it says (in place, so nothing moves where they already
    /// are), its exporter started if it differs.
    async fn adopt(&mut self, previous: Arc<ServiceConfig>) {
        let (root, config) = (self.settings.root.clone(), previous.clone());
        let applied = tokio::task::spawn_blocking(move || {
            let links = netlink::links::list()?;
            apply::apply(&root, &config, None, &Managed::new(), &links)
        })
        .await;
        match applied {
            Ok(Ok(applied)) => self.settle(applied),
            Ok(Err(e)) => error!("{}", error::chain(&e)),
            Err(e) => error!("{}", error::chain(&e)),
        }
        self.exporter
            .switch(
                &self.settings.root,
                &self.current,
                &previous,
                self.unattached.clone(),
            )
            .await;
        self.current = previous;
        self.report_status();
    }
}
