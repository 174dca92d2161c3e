//! A new policy for an attached interface, replaced in place: written into the inactive
//! generation, then switched to in one config update, so no packet sees half of it. A mode
//! change, when asked for, follows with the new policy already in force.

use fwxdp_common::{Config, Proto};

use super::{
    framing::Framing,
    request::{AttachError, Outcome, Request, config_flags, open_count},
    switch,
};
use crate::{
    mode::AttachMode,
    state::{LinkPin, PinnedInterface},
};

/// A mode switch killed midway leaves the TC bridge link beside, or instead of, the ingress
/// link: keep whichever filters, as the ingress link, and say so in the config.
pub(super) fn repair_interrupted_switch(
    pinned: &mut PinnedInterface,
    config: Config,
) -> Result<(), AttachError> {
    let dir = pinned.dir().clone();
    let set_mode = |pinned: &mut PinnedInterface, mode: Option<AttachMode>| match mode {
        Some(mode) if mode.raw() != config.mode => pinned.set_config(&Config {
            mode: mode.raw(),
            ..config
        }),
        _ => Ok(()),
    };
    match (dir.holds(LinkPin::Ingress), dir.holds(LinkPin::Bridge)) {
        // Killed between the two writes of moving the bridge's record into place: both
        // name one filter, the one in force, which the mode must now say.
        (true, true) if dir.same_filter(LinkPin::Ingress, LinkPin::Bridge) => {
            dir.forget_record(LinkPin::Bridge)?;
            set_mode(pinned, dir.live_mode(LinkPin::Ingress, config.ifindex))?;
        }
        // The one that is live stays: a released filter whose record was not cleared yet
        // must not take the working bridge down with it.
        (true, true) => match (
            dir.live_mode(LinkPin::Ingress, config.ifindex),
            dir.live_mode(LinkPin::Bridge, config.ifindex),
        ) {
            (None, Some(bridge)) => {
                dir.release(LinkPin::Ingress)?;
                dir.move_role(LinkPin::Bridge, LinkPin::Ingress)?;
                set_mode(pinned, Some(bridge))?;
            }
            (ingress, _) => {
                dir.release(LinkPin::Bridge)?;
                set_mode(pinned, ingress)?;
            }
        },
        (false, true) => {
            let mode = dir.live_mode(LinkPin::Bridge, config.ifindex);
            dir.move_role(LinkPin::Bridge, LinkPin::Ingress)?;
            set_mode(pinned, mode.or(Some(AttachMode::Tc)))?;
        }
        // The mode says what the kernel does, not what the last command meant to do.
        (true, false) => set_mode(pinned, dir.live_mode(LinkPin::Ingress, config.ifindex))?,
        (false, false) => {}
    }
    Ok(())
}

/// Replaces the policy of an attached interface, then moves it to the mode asked for.
pub(super) fn replace(
    pinned: &mut PinnedInterface,
    request: &Request<'_>,
) -> Result<Outcome, AttachError> {
    let config = pinned.config()?;
    let mode = AttachMode::from_raw(config.mode).unwrap_or(AttachMode::Generic);
    // The new policy first, in the mode in force: one config write switches to it.
    let next = config.generation ^ 1;
    pinned.write_policy(next, request.policy)?;
    let mut config = Config {
        generation: next,
        // The device's framing is the device's: it stays as the fresh attach found it.
        flags: config_flags(request.monitor, framing_of(&config)),
        open_tcp: open_count(request.policy, Proto::Tcp),
        open_udp: open_count(request.policy, Proto::Udp),
        log_rate: request.log_rate,
        ..config
    };
    pinned.set_config(&config)?;
    let Some(wanted) = request.mode.filter(|wanted| !wanted.accepts(mode)) else {
        return Ok(Outcome {
            iface: request.iface.to_owned(),
            mode,
            replaced: true,
            switched_from: None,
            fallback: None,
            spared: false,
            upgraded_from: None,
        });
    };
    let switched = switch::switch(pinned.dir(), request.iface, mode, wanted);
    let now = match &switched {
        Ok(placed) => placed.mode,
        Err((now, _)) => *now,
    };
    config.mode = now.raw();
    pinned.set_config(&config)?;
    let placed = switched.map_err(|(now, source)| AttachError::Switch {
        iface: request.iface.to_owned(),
        from: mode.name(),
        requested: wanted.name(),
        now: now.name(),
        source: Box::new(source),
    })?;
    Ok(Outcome {
        iface: request.iface.to_owned(),
        mode: placed.mode,
        replaced: true,
        switched_from: Some(mode),
        fallback: placed.fallback,
        spared: false,
        upgraded_from: None,
    })
}

fn framing_of(config: &Config) -> Framing {
    if config.ip_frames() {
        Framing::Ip
    } else {
        Framing::Ethernet
    }
}
