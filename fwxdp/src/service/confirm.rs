//! The service's part in `fwxdp reload --confirm`: recording the reload before it applies,
//! and watching for the confirmation or the deadline (see [`super::unconfirmed`]).

use std::{fs, time::Duration};

use tracing::{error, info, warn};

use super::{
    apply,
    config::ServiceConfig,
    daemon::{Service, keep_as_last_good},
    unconfirmed::{Standing, Unconfirmed, clear_marker, marker, standing},
};
use crate::{
    confirm::{self, Pending, ServiceReload},
    error,
    netlink::{self, Link},
    state::{PinnedInterface, StateLock},
};

impl Service {
    /// Before a reload with a `window` applies `next`: records the interfaces it may change
    /// (every attached one, and every present one `next` covers) and arranges the revert.
    pub(super) async fn begin_confirmed(
        &mut self,
        next: &ServiceConfig,
        window: Duration,
        links: &[Link],
    ) -> Result<Pending, String> {
        let root = self.settings.root.clone();
        let run_dir = self.settings.run_dir.clone();
        let mut ifaces: Vec<String> = PinnedInterface::all(&root)
            .map_err(|e| error::chain(&e))?
            .iter()
            .map(|p| p.name().to_owned())
            .collect();
        for link in links.iter().filter(|l| !l.loopback) {
            if next.rule_for(&link.name).is_some() && !ifaces.contains(&link.name) {
                ifaces.push(link.name.clone());
            }
        }
        let what = format!("reload of {}", self.settings.config.display());
        let pid = i32::try_from(std::process::id()).unwrap_or(i32::MAX);
        tokio::task::spawn_blocking(move || {
            let _lock = StateLock::acquire().map_err(|e| error::chain(&e))?;
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
        .map_err(|e| error::chain(&e))?
    }

    /// After a reload with a window was applied: the new text waits for confirmation.
    pub(super) fn await_confirmation(&mut self, change: Pending, text: String) {
        if let Err(e) = fs::write(marker(&self.settings.state_dir), &text) {
            warn!("cannot mark the config as unconfirmed in the state directory: {e}");
        }
        self.unconfirmed = Some(Unconfirmed {
            id: change.id,
            previous: self.current.clone(),
            text,
        });
    }

    /// A reload with a window failed (and put back what it changed): its change ends.
    pub(super) async fn drop_change(&self, change: &Pending) {
        let (root, run_dir, id) = (
            self.settings.root.clone(),
            self.settings.run_dir.clone(),
            change.id.clone(),
        );
        let dropped = tokio::task::spawn_blocking(move || {
            let _lock = StateLock::acquire().map_err(|e| error::chain(&e))?;
            match confirm::pending(&run_dir, &root) {
                Ok(Some(waiting)) if waiting.id == id => confirm::confirm(&run_dir, &root)
                    .map(drop)
                    .map_err(|e| error::chain(&e)),
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
            Standing::Confirmed => {
                keep_as_last_good(&self.last_good, &unconfirmed.text);
                clear_marker(&self.settings.state_dir);
                info!("the reload was confirmed: its config is the last good one now");
                self.unconfirmed = None;
            }
            Standing::Due(change) => self.revert_reload(Some(change)).await,
            Standing::RevertedElsewhere => self.revert_reload(None).await,
        }
    }

    /// Goes back to the config in force before the unconfirmed reload, and ends its change
    /// (`change`, unless its reverter ended it already).
    async fn revert_reload(&mut self, change: Option<Pending>) {
        let Some(unconfirmed) = self.unconfirmed.take() else {
            return;
        };
        let (root, previous, current, before) = (
            self.settings.root.clone(),
            unconfirmed.previous.clone(),
            self.current.clone(),
            self.managed.clone(),
        );
        let applied = tokio::task::spawn_blocking(move || {
            let links = netlink::links::list()?;
            apply::apply(&root, &previous, Some(&current), &before, &links)
        })
        .await;
        let failed = match applied {
            Ok(Ok(applied)) => {
                let failed = applied
                    .failed
                    .iter()
                    .map(|(iface, why)| format!("{iface}: {why}"))
                    .collect();
                self.settle(applied);
                failed
            }
            Ok(Err(e)) => vec![error::chain(&e)],
            Err(e) => vec![error::chain(&e)],
        };
        if let Some(change) = change
            && let Err(e) = confirm::end(
                &self.settings.run_dir,
                &self.settings.root,
                &change,
                failed.clone(),
            )
        {
            warn!("{}", error::chain(&e));
        }
        self.current = unconfirmed.previous;
        error!(
            "the reload was not confirmed within its window: back to the config in force \
             before{}",
            if failed.is_empty() {
                String::new()
            } else {
                format!(", except: {}", failed.join("; "))
            }
        );
        self.report_status();
    }
}
