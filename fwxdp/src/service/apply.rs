//! Applying a config under the state lock: every interface it covers that exists is
//! attached (in place where attached), and what the service attached that no table covers
//! any more is detached. A reload is all or nothing; the start attaches what it can.

use std::collections::BTreeMap;

use tracing::{error, info, warn};

use super::{
    config::{InterfaceConfig, ServiceConfig},
    error::DaemonError,
};
use crate::{
    attach::{self, DetachError, Outcome, Request, Spares},
    error,
    netlink::Link,
    state::{Filtering, PinRoot, PinnedInterface, StateLock},
};

/// The interfaces this service attached: name → the index it had.
pub(super) type Managed = BTreeMap<String, u32>;

/// Interfaces the config covers that could not be attached: name → why.
pub(super) type Failed = BTreeMap<String, String>;

/// What [`apply`] left in force.
#[derive(Debug, Default)]
pub(super) struct Applied {
    pub(super) managed: Managed,
    pub(super) failed: Failed,
}

/// Applies `config` to `links` (the interfaces there are now) under the state lock. With
/// `previous` (a reload), it is all or nothing: when one interface fails, the ones already
/// changed go back to `previous` and the error is returned. Without (the start), an
/// interface that fails is logged and listed in [`Applied::failed`], and the rest go on.
pub(super) fn apply(
    root: &PinRoot,
    config: &ServiceConfig,
    previous: Option<&ServiceConfig>,
    before: &Managed,
    links: &[Link],
) -> Result<Applied, DaemonError> {
    let _lock = StateLock::acquire()?;
    let mut applied = Applied::default();
    let mut done: Vec<&str> = Vec::new();
    let mut before = before.clone();
    for link in links.iter().filter(|l| !l.loopback) {
        // Renamed while the service was down, or between events: the pins follow first.
        if let Some(old) = follow_rename(root, link)? {
            before.remove(&old);
            before.insert(link.name.clone(), link.index);
        }
        let Some(rule) = config.rule_for(&link.name) else {
            continue;
        };
        match attach_one(root, &link.name, rule, None) {
            Ok(_) => {
                applied.managed.insert(link.name.clone(), link.index);
                done.push(&link.name);
            }
            Err(e) => {
                let Some(previous) = previous else {
                    error!(interface = %link.name, "not filtered: {}", error::chain(&e));
                    applied.failed.insert(link.name.clone(), error::chain(&e));
                    continue;
                };
                error!(
                    "{}; putting back the interfaces already changed",
                    error::chain(&e)
                );
                roll_back(root, previous, &done);
                return Err(e);
            }
        }
    }
    for (name, &index) in &before {
        if applied.managed.contains_key(name) {
            continue;
        }
        if config.rule_for(name).is_some() {
            // Covered still, but gone for now: attached again when it comes back.
            applied.managed.insert(name.clone(), index);
            continue;
        }
        if let Some(mut pinned) = PinnedInterface::find(root, name)
            && let moved @ (Filtering::Renamed { .. } | Filtering::Elsewhere { .. }) =
                pinned.filtering()
        {
            // Detaching by this name would open the device the filter is on now.
            warn!(interface = %name, "not detached: {moved}");
            continue;
        }
        match attach::detach(root, name) {
            Ok(()) => info!(interface = %name, "detached: no longer in the config"),
            Err(DetachError::NotAttached { .. }) => {}
            // Still attached, so still filtered: said, and kept as the service's.
            Err(source) => {
                let error = DaemonError::Detach {
                    iface: name.clone(),
                    source: Box::new(source),
                };
                error!("{}", error::chain(&error));
                applied.managed.insert(name.clone(), index);
            }
        }
    }
    Ok(applied)
}

/// What [`ensure`] did.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Ensured {
    /// It was filtered as the config says already.
    Unchanged,
    /// It is filtered now; `spared` when by a spare instance, verified ahead of need.
    Attached { spared: bool },
    /// No table covers it.
    NotCovered,
}

/// Makes sure the interface `link` (just created, renamed or changed) is filtered as
/// `config` says, under the state lock. A renamed interface takes its pins along: its
/// links filter by index, not by name.
pub(super) fn ensure(
    root: &PinRoot,
    spares: &Spares,
    config: &ServiceConfig,
    managed: &mut Managed,
    link: &Link,
) -> Result<Ensured, DaemonError> {
    if link.loopback {
        return Ok(Ensured::NotCovered);
    }
    let _lock = StateLock::acquire()?;
    let renamed = match follow_rename(root, link)? {
        Some(old) => {
            managed.remove(&old);
            managed.insert(link.name.clone(), link.index);
            true
        }
        None => false,
    };
    let Some(rule) = config.rule_for(&link.name) else {
        if renamed {
            warn!(
                interface = %link.name,
                "renamed to a name no [[interface]] covers; its filter stays (fwxdp detach {} \
                 removes it)",
                link.name
            );
        }
        return Ok(Ensured::NotCovered);
    };
    if managed.get(&link.name) == Some(&link.index)
        && PinnedInterface::find(root, &link.name).is_some_and(|mut p| p.filtering().is_yes())
        && !renamed
    {
        return Ok(Ensured::Unchanged);
    }
    let outcome = attach_one(root, &link.name, rule, Some(spares))?;
    managed.insert(link.name.clone(), link.index);
    Ok(Ensured::Attached {
        spared: outcome.spared,
    })
}

/// When `link` has no live pins under its name but the pins under another name filter its
/// index (in this namespace), the interface was renamed: stale pins under the new name are
/// removed and the filter's pins move to it. Returns the old name. The caller holds the
/// state lock.
fn follow_rename(root: &PinRoot, link: &Link) -> Result<Option<String>, DaemonError> {
    let current = match PinnedInterface::find(root, &link.name) {
        Some(mut current) => match current.filtering() {
            // Its own, live; or another device's, which nothing here may touch.
            Filtering::Yes
            | Filtering::Renamed { .. }
            | Filtering::Elsewhere { .. }
            | Filtering::Unknown(_) => return Ok(None),
            Filtering::InterfaceGone | Filtering::Recreated { .. } | Filtering::Detached => {
                Some(current)
            }
        },
        None => None,
    };
    let Some(old) = renamed_from(root, link)? else {
        return Ok(None);
    };
    // Stale pins under the new name make way for the filter that is on the device.
    if let Some(current) = current {
        current.remove()?;
    }
    let name = old.name().to_owned();
    old.rename(root, &link.name)?;
    info!(interface = %link.name, from = %name, "renamed; its pins follow it");
    Ok(Some(name))
}

/// The pins, under another name, whose filter is on `link`'s device.
fn renamed_from(root: &PinRoot, link: &Link) -> Result<Option<PinnedInterface>, DaemonError> {
    Ok(PinnedInterface::all(root)?.into_iter().find_map(|mut p| {
        (p.name() != link.name
            && p.filtering()
                == (Filtering::Renamed {
                    ifindex: link.index,
                }))
        .then_some(p)
    }))
}

/// Forgets an interface of the service that was deleted: its links went with it, its pins
/// are removed (an interface made again under the name is attached afresh).
pub(super) fn forget(
    root: &PinRoot,
    managed: &mut Managed,
    link: &Link,
) -> Result<(), DaemonError> {
    if managed.get(&link.name) != Some(&link.index) {
        return Ok(());
    }
    // A device of that index still exists: renamed (the event that says so may be among
    // those lost), not deleted. Its links still filter it; removing the pins would open it.
    if nix::net::if_::if_indextoname(link.index).is_ok() {
        return Ok(());
    }
    let _lock = StateLock::acquire()?;
    managed.remove(&link.name);
    if let Some(pinned) = PinnedInterface::find(root, &link.name)
        && pinned.layout().is_ok_and(|c| c.ifindex == link.index)
    {
        pinned.remove()?;
        info!(interface = %link.name, "deleted: its filter went with it; attached again if it comes back");
    }
    Ok(())
}

fn attach_one(
    root: &PinRoot,
    name: &str,
    rule: &InterfaceConfig,
    spares: Option<&Spares>,
) -> Result<Outcome, DaemonError> {
    let request = Request {
        iface: name,
        policy: &rule.policy,
        monitor: rule.monitor,
        log_rate: rule.log_rate,
        mode: rule.mode,
        spares,
    };
    let outcome = attach::attach(root, &request).map_err(|source| DaemonError::Attach {
        iface: name.to_owned(),
        source: Box::new(source),
    })?;
    if let Some(reason) = &outcome.fallback {
        warn!(interface = %outcome.iface, "native XDP is not available ({reason}); using generic XDP");
    }
    if let Some(layout) = outcome.upgraded_from {
        info!(interface = %outcome.iface, from = layout, to = fwxdp_common::CONFIG_VERSION, "pins upgraded to this layout");
    }
    if let Some(from) = outcome.switched_from {
        info!(interface = %outcome.iface, from = from.name(), to = outcome.mode.name(), "mode changed");
    }
    info!(
        interface = %outcome.iface,
        mode = outcome.mode.name(),
        allow = %rule.policy.to_specs().join(","),
        monitor = rule.monitor,
        "{}",
        if outcome.replaced { "policy replaced in place" } else { "attached" }
    );
    Ok(outcome)
}

/// Puts the interfaces in `done` back as `previous` had them (or detaches them, when it did
/// not cover them). Failures are logged: there is nothing better to do with them.
fn roll_back(root: &PinRoot, previous: &ServiceConfig, done: &[&str]) {
    for name in done {
        let result = match previous.rule_for(name) {
            Some(old) => attach_one(root, name, old, None)
                .map(drop)
                .map_err(|e| error::chain(&e)),
            None => attach::detach(root, name).map_err(|e| error::chain(&e)),
        };
        match result {
            Ok(()) => info!(interface = %name, "put back as before the reload"),
            Err(e) => error!(interface = %name, "cannot put back: {e}"),
        }
    }
}

/// Interfaces attached under the pin root that the service does not manage: attached by
/// hand, so left alone, but worth a line in the log.
pub(super) fn warn_about_others(root: &PinRoot, managed: &Managed) {
    for other in root.interfaces().unwrap_or_default() {
        if !managed.contains_key(&other) {
            warn!(interface = %other, "attached outside this config; left as it is");
        }
    }
}
