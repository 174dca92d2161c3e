//! Applying a config under the state lock, all or nothing: every interface is attached (in
//! place where attached), what the service attached before and the config no longer lists
//! is detached, and a failure midway puts back what had changed.

use std::collections::BTreeSet;

use tracing::{error, info, warn};

use super::{config::ServiceConfig, error::DaemonError};
use crate::{
    attach::{self, DetachError, Request},
    error, iface,
    state::{PinRoot, StateLock},
};

/// Applies `config` under the state lock, all or nothing: every interface is checked first,
/// so a config naming a missing interface changes nothing; then each is attached (in place
/// where attached), and what this service attached before and the config no longer lists is
/// detached. When an interface fails midway, the ones already changed go back to `previous`.
pub(super) fn apply(
    root: &PinRoot,
    config: &ServiceConfig,
    previous: Option<&ServiceConfig>,
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
            error::chain(error)
        );
        roll_back(root, previous, &done);
    }
    result
}

fn apply_locked<'a>(
    root: &PinRoot,
    config: &'a ServiceConfig,
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
        match attach::detach(root, gone) {
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
fn roll_back(root: &PinRoot, previous: &ServiceConfig, done: &[&str]) {
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
            .map_err(|e| error::chain(&e)),
            None => attach::detach(root, name).map_err(|e| error::chain(&e)),
        };
        match result {
            Ok(()) => info!(interface = %name, "put back as before the reload"),
            Err(e) => error!(interface = %name, "cannot put back: {e}"),
        }
    }
}

/// Interfaces attached under the pin root that the config does not name: attached by hand,
/// so left alone, but worth a line in the log.
pub(super) fn warn_about_others(root: &PinRoot, managed: &BTreeSet<String>) {
    for other in root.interfaces().unwrap_or_default() {
        if !managed.contains(&other) {
            warn!(interface = %other, "attached outside this config; left as it is");
        }
    }
}
