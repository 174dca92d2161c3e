//! How the service follows the kernel's interface events: each covered interface that
//! appears, is renamed or is made again is attached; one of its own that is deleted is
//! forgotten.

use tracing::{error, info};

use super::{
    apply::{self, Ensured},
    daemon::{Service, refill},
    error::DaemonError,
};
use crate::{
    error,
    netlink::{self, LinkEvent},
};

impl Service {
    /// Acts on interface changes: a covered interface that appears, is renamed or is made
    /// again is attached; a deleted one of the service's is forgotten.
    pub(super) async fn on_links(&mut self, batch: Vec<LinkEvent>) {
        for event in batch {
            let began = std::time::Instant::now();
            let (root, config) = (self.settings.root.clone(), self.current.clone());
            let spares = self.spares.clone();
            let mut managed = self.managed.clone();
            let kept = self.managed.clone();
            let (result, managed) = tokio::task::spawn_blocking(move || {
                let result = match &event {
                    LinkEvent::Changed(link) => {
                        apply::ensure(&root, &spares, &config, &mut managed, link)
                            .map(|ensured| (link.clone(), Some(ensured)))
                    }
                    LinkEvent::Removed(link) => {
                        apply::forget(&root, &mut managed, link).map(|()| (link.clone(), None))
                    }
                };
                (result, managed)
            })
            .await
            // A task that panicked changed nothing the service can know of: keep what it knew.
            .unwrap_or_else(|e| (Err(DaemonError::Task(e)), kept));
            self.managed = managed;
            let mut unattached = self.unattached.lock().ok();
            match result {
                Ok((link, Some(Ensured::Attached { spared }))) => {
                    let took_ms = began.elapsed().as_millis();
                    info!(interface = %link.name, index = link.index, took_ms, spared, "filtering an interface that appeared");
                    refill(&self.spares);
                    if let Some(u) = unattached.as_mut() {
                        u.remove(&link.name);
                    }
                }
                Ok((link, None)) => {
                    if let Some(u) = unattached.as_mut() {
                        u.remove(&link.name);
                    }
                }
                Ok((link, Some(Ensured::NotCovered))) => {
                    // Renamed out of the config's reach: no longer one it should filter.
                    if let Some(u) = unattached.as_mut()
                        && u.remove(&link.name).is_none()
                    {
                        continue;
                    }
                }
                Ok((_, Some(Ensured::Unchanged))) => continue,
                Err(e) => {
                    error!("{}", error::chain(&e));
                    if let (DaemonError::Attach { iface, .. }, Some(u)) = (&e, unattached.as_mut())
                    {
                        u.insert(iface.clone(), error::chain(&e));
                    }
                }
            }
            drop(unattached);
            self.report_status();
        }
    }

    /// Reads every interface afresh, as if each had just appeared; forgets the service's
    /// interfaces that are gone.
    pub(super) async fn resync(&mut self) {
        let links = match netlink::links::list() {
            Ok(links) => links,
            Err(e) => {
                error!("{}", error::chain(&e));
                return;
            }
        };
        let gone: Vec<LinkEvent> = self
            .managed
            .iter()
            .filter(|&(name, &index)| !links.iter().any(|l| l.name == *name && l.index == index))
            .map(|(name, &index)| {
                LinkEvent::Removed(netlink::Link {
                    index,
                    name: name.clone(),
                    loopback: false,
                    master: None,
                    lower: None,
                    link_type: 0,
                    kind: None,
                    up: false,
                    udp_encap: false,
                })
            })
            .collect();
        let mut batch = gone;
        batch.extend(links.into_iter().map(LinkEvent::Changed));
        self.on_links(batch).await;
    }
}
