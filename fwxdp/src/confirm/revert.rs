//! Putting back what each interface was before an unconfirmed change.

use super::record::Before;
use crate::{
    attach::{self, Request},
    state::{PinRoot, PinnedInterface},
};

/// Restores every interface of `before` under `root`: the policy, mode, monitor flag and
/// log rate it had, or detached if it was not attached. Blocks are not touched. Returns
/// the interfaces that could not be put back, each with why; the others are put back
/// whatever happens to one.
#[must_use]
pub fn restore(root: &PinRoot, before: &[Before]) -> Vec<String> {
    let mut failed = Vec::new();
    // A filter the change's command left in staging when it was killed is an attached one
    // (the sweep renames it into place), so that it is reverted with the rest.
    if let Err(e) = root.sweep_staging() {
        failed.push(format!(
            "the staging directory: {}",
            crate::error::chain(&e)
        ));
    }
    for one in before {
        let iface = &one.iface;
        let result = match &one.state {
            None => match PinnedInterface::find(root, iface) {
                Some(_) => attach::detach(root, iface).map_err(|e| crate::error::chain(&e)),
                None => Ok(()),
            },
            Some(saved) => saved
                .policy()
                .map_err(|e| crate::error::chain(&e))
                .and_then(|policy| {
                    let request = Request {
                        iface,
                        policy: &policy,
                        monitor: saved.monitor,
                        log_rate: saved.log_rate,
                        mode: Some(saved.mode),
                        spares: None,
                    };
                    attach::attach(root, &request)
                        .map(drop)
                        .map_err(|e| crate::error::chain(&e))
                }),
        };
        if let Err(why) = result {
            failed.push(format!("{iface}: {why}"));
        }
    }
    failed
}
