//! Pins of another layout (left by an fwxdp of another version) taken over with no
//! unfiltered moment: a whole instance of this layout is built beside them, with the policy
//! asked for; each of the interface's links is switched to its programs in one step of the
//! kernel's and moved over; then the old pins, which nothing runs on any more, are moved
//! aside, the new ones renamed into place, and the old ones removed.
//!
//! The instance waits in the interface's upgrade directory ([`PinRoot::upgrade_dir`]) only
//! once it is whole, and every later step can be run again: an attach killed at any point is
//! finished by the next one ([`finish`]). Until then the links the upgrade has moved hold the
//! line from the upgrade directory, which `status` reads as the interface's too.

use std::fs;

use aya::maps::{HashMap, MapData};
use fwxdp_common::{CONFIG_VERSION, Config, FlowKey, Proto, block_scope};

use super::{
    framing::Framing,
    request::{AttachError, Request, config_flags, open_count},
    staging::{self, Staging},
};
use crate::{
    iface,
    state::{Hold, LinkPin, MapPin, MapSource, PinDir, PinError, PinRoot, PinnedLayout},
};

/// Upgrades `request.iface`'s pins, of layout `found`, to this layout, the policy asked for in
/// force from the first link moved.
pub(super) fn upgrade(
    root: &PinRoot,
    request: &Request<'_>,
    found: PinnedLayout,
    framing: Framing,
) -> Result<(), AttachError> {
    let iface = request.iface;
    let old = root.iface_dir(iface);
    // What this build does not know it could neither hand over nor remove.
    let names = old.unknown_names()?;
    if !names.is_empty() {
        return Err(AttachError::UnknownPins {
            iface: iface.to_owned(),
            found: found.version,
            names,
        });
    }
    // A filter a killed command made but never recorded is recorded, so it is handed over.
    old.adopt_unrecorded_filters()?;
    // Nothing may move a filter that is in force on another device.
    for &role in LinkPin::ALL {
        let elsewhere = |ifindex| AttachError::Elsewhere {
            iface: iface.to_owned(),
            ifindex,
        };
        match old.hold(role, found.ifindex)? {
            Hold::Elsewhere { ifindex } => return Err(elsewhere(ifindex)),
            Hold::Here if iface::index(iface) != Some(found.ifindex) => {
                return Err(elsewhere(found.ifindex));
            }
            Hold::Here | Hold::Nothing => {}
        }
    }
    let config = Config {
        generation: 0,
        flags: config_flags(request.monitor, framing),
        mode: found.mode,
        version: CONFIG_VERSION,
        ifindex: found.ifindex,
        attached_at: found.attached_at,
        open_tcp: open_count(request.policy, Proto::Tcp),
        open_udp: open_count(request.policy, Proto::Udp),
        block_scope: block_scope(iface.as_bytes()),
        log_rate: request.log_rate,
        _pad: 0,
    };
    let staged = Staging::create(&root.staging_dir(iface))?;
    staging::build(root, request, &config, staged.dir())?;
    // Whole: from here on, an attach that finds it finishes the upgrade.
    staged.commit(&root.upgrade_dir(iface))?;
    finish(root, iface)?;
    Ok(())
}

/// Finishes the upgrade of `iface`'s pins under way, if one is (an attach killed midway left
/// it): every link handed over, the old pins moved aside, the new ones into place, the old
/// ones removed. Returns whether there was one.
pub(super) fn finish(root: &PinRoot, iface: &str) -> Result<bool, AttachError> {
    let new = root.upgrade_dir(iface);
    if !new.exists() {
        return Ok(false);
    }
    let layout = new.layout().map_err(|source| AttachError::Unreadable {
        iface: iface.to_owned(),
        source,
    })?;
    if layout.version != CONFIG_VERSION {
        return Err(AttachError::OtherUpgrade {
            iface: iface.to_owned(),
            found: layout.version,
        });
    }
    let old = root.iface_dir(iface);
    if old.exists() {
        // Egress first: the new egress program records the host's flows in the new map from
        // then on, and those the old one recorded are copied before the new ingress program,
        // which admits their replies, takes over.
        old.hand_over(LinkPin::Egress, &new, layout.ifindex)?;
        copy_flows(&old, &new);
        for role in [LinkPin::Bridge, LinkPin::Ingress] {
            old.hand_over(role, &new, layout.ifindex)?;
        }
        // Nothing runs on these maps any more. Aside in one rename first: removed in place,
        // a kill would leave pins that no command can read in the interface's directory.
        let retired = root.retired_dir(iface);
        retired.remove()?;
        fs::rename(old.path(), retired.path())
            .map_err(|e| PinError::io("rename", old.path(), e))?;
    }
    fs::rename(new.path(), old.path()).map_err(|source| AttachError::Commit {
        path: old.path().to_owned(),
        source,
    })?;
    // No link is left to release in them.
    root.retired_dir(iface).remove()?;
    Ok(true)
}

/// Copies the flows the host started from `old`'s map to `new`'s, so that replies to them
/// are still admitted, where the two maps have the same layout (a layout that changes the
/// flow key changes its size). Otherwise, and on any error, those flows start again with
/// their next outbound packet: replies in flight meanwhile are dropped.
fn copy_flows(old: &PinDir, new: &PinDir) {
    let open = |dir: &PinDir| {
        MapSource::Pinned(dir.path())
            .open::<HashMap<MapData, FlowKey, u64>>(MapPin::Flows)
            .ok()
    };
    let (Some(from), Some(mut to)) = (open(old), open(new)) else {
        return;
    };
    for (key, last_seen) in from.iter().filter_map(Result::ok) {
        // Full (the new one is as large): the rest start again, as above.
        if to.insert(key, last_seen, 0).is_err() {
            break;
        }
    }
}
