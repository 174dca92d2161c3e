//! A fresh attach: every pin is built in a staging directory, and the directory is renamed
//! into place only when the programs are attached, so a failure leaves nothing behind.

use std::{
    fs,
    time::{SystemTime, UNIX_EPOCH},
};

use aya::programs::TcAttachType;
use fwxdp_common::{CONFIG_VERSION, Config, Proto, block_scope};

use super::{
    framing::Framing,
    hook,
    object::Loaded,
    request::{AttachError, Outcome, Request, config_flags, open_count},
    spares::Spares,
    switch,
};
use crate::state::{LinkPin, PinDir, PinError, PinRoot, ProgramPin};

/// Attaches an interface that has no pins.
pub(super) fn fresh(
    root: &PinRoot,
    request: &Request<'_>,
    ifindex: u32,
    framing: Framing,
) -> Result<Outcome, AttachError> {
    let iface = request.iface;
    let staging = Staging::create(&root.staging_dir(iface))?;
    let mut config = Config {
        generation: 0,
        flags: config_flags(request.monitor, framing),
        mode: 0,
        version: CONFIG_VERSION,
        ifindex,
        attached_at: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
        open_tcp: open_count(request.policy, Proto::Tcp),
        open_udp: open_count(request.policy, Proto::Udp),
        block_scope: block_scope(iface.as_bytes()),
        log_rate: request.log_rate,
        _pad: 0,
    };
    let dir = staging.dir();
    let (mut loaded, spared) = build(root, request, &config, dir)?;
    // Egress first, so replies to flows that start meanwhile already pass.
    let link = hook::attach_tc(dir, ProgramPin::TcEgress, iface, TcAttachType::Egress)
        .map_err(switch::SwitchError::from)?;
    dir.keep(link, LinkPin::Egress)?;

    let (placed, link) = switch::attach_ingress(dir, iface, request.mode.unwrap_or_default())
        .map_err(switch::SwitchError::from)?;
    // The mode first: once the link is kept, a kill leaves a filter the next attach takes
    // over as it is, and it must say its mode.
    config.mode = placed.mode.raw();
    loaded.policy.set_config(&config)?;
    dir.keep(link, LinkPin::Ingress)?;
    staging.commit(&root.iface_dir(iface))?;
    Ok(Outcome {
        iface: iface.to_owned(),
        mode: placed.mode,
        replaced: false,
        switched_from: None,
        fallback: placed.fallback,
        spared,
        upgraded_from: None,
    })
}

/// Builds a whole instance in `dir`: its maps, with `request`'s policy under `config`, and
/// every program loaded and pinned; nothing attached. True with it when a spare was used.
pub(super) fn build(
    root: &PinRoot,
    request: &Request<'_>,
    config: &Config,
    dir: &PinDir,
) -> Result<(Loaded, bool), AttachError> {
    let blocks = root.block_pins();
    // A spare made for another pin root would let this one's blocked sources in.
    let spare = request
        .spares
        .and_then(Spares::take)
        .filter(|spare| spare.shares_blocks(&blocks));
    let spared = spare.is_some();
    let mut loaded = match spare {
        Some(spare) => Loaded::from_spare(spare, request.policy, config, Some(dir.path()))?,
        None => Loaded::with_blocks(request.policy, config, Some(dir.path()), &blocks)?,
    };
    // Counts that say nothing of blocks the trie holds would let those sources in.
    loaded
        .blocks
        .repair_counts()
        .map_err(super::object::ObjectError::from)?;
    // Every program is loaded and pinned before anything is attached, so that whatever a
    // kill leaves for the next attach to take over has the program a later mode switch needs,
    // bound to these same maps.
    loaded.load_all()?;
    for &program in ProgramPin::ALL {
        loaded.pin_program(program, dir)?;
    }
    Ok((loaded, spared))
}

/// A directory of pins under construction; removed, links detached, unless committed.
pub(super) struct Staging {
    dir: PinDir,
    committed: bool,
}

impl Staging {
    pub(super) fn create(dir: &PinDir) -> Result<Self, AttachError> {
        // A leftover of an earlier process with this PID.
        dir.remove_files()?;
        Ok(Self {
            dir: PinDir::create(dir.path())?,
            committed: false,
        })
    }

    pub(super) fn dir(&self) -> &PinDir {
        &self.dir
    }

    pub(super) fn commit(mut self, dest: &PinDir) -> Result<(), AttachError> {
        fs::rename(self.dir.path(), dest.path()).map_err(|source| AttachError::Commit {
            path: dest.path().to_owned(),
            source,
        })?;
        self.committed = true;
        Ok(())
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        if !self.committed {
            // Nothing better to do with a failure here: the next attach sweeps what is left.
            let _: Result<(), PinError> = self.dir.remove();
        }
    }
}
