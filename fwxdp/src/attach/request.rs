//! What an attach is asked to do, what it did, and why it failed.

use std::{io, path::PathBuf};

use fwxdp_common::{CONFIG_IP_FRAMES, CONFIG_MONITOR, CONFIG_VERSION, Proto};

use super::{
    framing::{Framing, FramingError},
    object::ObjectError,
    spares::Spares,
    switch::SwitchError,
};
use crate::{
    iface::IfaceError,
    mode::AttachMode,
    policy::Policy,
    state::{MapsError, PinError},
};

/// What to attach where.
#[derive(Clone, Copy, Debug)]
pub struct Request<'a> {
    pub iface: &'a str,
    pub policy: &'a Policy,
    pub monitor: bool,
    /// Drop events logged per second per CPU ([`fwxdp_common::Config::log_rate`]).
    pub log_rate: u32,
    /// The mode asked for; `None` keeps the mode in force (`auto` on a fresh attach).
    pub mode: Option<AttachMode>,
    /// Instances verified ahead of need: a fresh attach takes one when one is ready.
    pub spares: Option<&'a Spares>,
}

/// What an attach did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    pub iface: String,
    /// The mode in force.
    pub mode: AttachMode,
    /// True when an attached interface got its policy replaced in place.
    pub replaced: bool,
    /// The mode the interface left, when the request moved it to another.
    pub switched_from: Option<AttachMode>,
    /// Why `auto` fell back to generic XDP, when it did.
    pub fallback: Option<String>,
    /// True when a fresh attach used a spare instance (its programs verified beforehand).
    pub spared: bool,
    /// The pin layout the interface's pins were upgraded from, when they were of another.
    pub upgraded_from: Option<u8>,
}

#[derive(Debug, thiserror::Error)]
pub enum AttachError {
    #[error(transparent)]
    Iface(#[from] IfaceError),
    #[error(transparent)]
    Framing(#[from] FramingError),
    #[error(transparent)]
    Pins(#[from] PinError),
    #[error(transparent)]
    Maps(#[from] MapsError),
    #[error(transparent)]
    Object(#[from] ObjectError),
    #[error(transparent)]
    Ingress(#[from] SwitchError),
    #[error("{iface} could not move from {from} to {requested} mode; it stays in {now} mode")]
    Switch {
        iface: String,
        from: &'static str,
        requested: &'static str,
        now: &'static str,
        source: Box<SwitchError>,
    },
    #[error(
        "cannot read the pinned state of {iface}; its filter is left as it is (run `fwxdp \
         detach {iface}` to start over)"
    )]
    Unreadable { iface: String, source: MapsError },
    #[error(
        "an upgrade of {iface}'s pins to another layout ({found}, this fwxdp uses \
         {CONFIG_VERSION}) is under way; its filter is left as it is: run the fwxdp of layout \
         {found} to finish it (any command that attaches {iface} does), or `fwxdp detach \
         {iface}`"
    )]
    OtherUpgrade { iface: String, found: u8 },
    #[error(
        "{iface}'s pins are of layout {found} and hold {names:?}, which this fwxdp (layout \
         {CONFIG_VERSION}) does not know: it cannot take them over, and its filter is left as \
         it is; attach it with an fwxdp of layout {found}, or `fwxdp detach {iface}`"
    )]
    UnknownPins {
        iface: String,
        found: u8,
        names: Vec<String>,
    },
    #[error("cannot tell whether {iface}'s filter is still attached ({why}); it is left as it is")]
    Unverifiable { iface: String, why: String },
    #[error(
        "the pins of {iface} hold a filter in force on another device (interface index \
         {ifindex} of its namespace): the interface was renamed, or another network namespace \
         shares this pin root. It is left as it is; give each namespace its own pin root \
         (--pin-root or FWXDP_PIN_ROOT), or run `fwxdp detach` where that device is"
    )]
    Elsewhere { iface: String, ifindex: u32 },
    #[error("cannot move pins into {path}")]
    Commit { path: PathBuf, source: io::Error },
}

/// Ports 1-65535 at most: always fits.
pub(super) fn open_count(policy: &Policy, proto: Proto) -> u16 {
    u16::try_from(policy.open_port_count(proto)).unwrap_or(u16::MAX)
}

pub(super) fn config_flags(monitor: bool, framing: Framing) -> u8 {
    let monitor = if monitor { CONFIG_MONITOR } else { 0 };
    match framing {
        Framing::Ethernet => monitor,
        Framing::Ip => monitor | CONFIG_IP_FRAMES,
    }
}
