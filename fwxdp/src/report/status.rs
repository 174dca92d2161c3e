//! `fwxdp status`: what is attached where, read back from the pinned maps.

use std::time::{Duration, UNIX_EPOCH};

use serde::Serialize;

use super::each::{self, PerInterface, ReportError};
use crate::{
    iface,
    mode::AttachMode,
    netlink::Link,
    state::{LinkPin, MapsError, Mechanism, PinRoot, PinnedInterface},
};

/// The state of one attached interface.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct InterfaceStatus {
    pub interface: String,
    /// `native`, `generic` or `tc`.
    pub mode: &'static str,
    /// How the verdict is hooked in: `xdp_link`, `tcx` or `clsact` (a netlink filter).
    pub mechanism: &'static str,
    /// How the egress UDP flow tracker is hooked in: `tcx` or `clsact`.
    pub egress_mechanism: &'static str,
    /// The allow list in force, as canonical spec items.
    pub allow: Vec<String>,
    /// The per-source rate limits in force, as canonical limit items.
    pub limits: Vec<String>,
    pub monitor: bool,
    /// First attach time, seconds since the Unix epoch.
    pub attached_at: u64,
    /// The same time in RFC 3339, UTC.
    pub attached_at_utc: String,
    /// The kernel's id of the ingress program.
    pub program_id: Option<u32>,
    pub ifindex: u32,
    /// False when the interface the pins belong to no longer exists.
    pub present: bool,
    /// Whether the kernel has the ingress program attached to the live interface: false
    /// when the interface was deleted (or made again), or the program detached behind
    /// fwxdp's back.
    pub filtering: bool,
    /// Why not, when `filtering` is false.
    pub unfiltered: Option<String>,
}

/// A tunnel device that is up and that no filter here covers: what arrives inside it
/// reaches every port of this host, whatever the filter on the interface it came in on.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct UnfilteredTunnel {
    pub interface: String,
    /// The device's kind: `vxlan`, `gre`, `wireguard`...
    pub kind: String,
}

/// The tunnel devices of `links` that are up and not among the `filtered` interfaces.
#[must_use]
pub fn unfiltered_tunnels(links: &[Link], filtered: &[&str]) -> Vec<UnfilteredTunnel> {
    links
        .iter()
        .filter(|l| l.up && l.needs_own_filter() && !filtered.contains(&l.name.as_str()))
        .map(|l| UnfilteredTunnel {
            interface: l.name.clone(),
            kind: l.kind.clone().unwrap_or_default(),
        })
        .collect()
}

/// Reads the status of every interface under `root`, each on its own.
pub fn status(root: &PinRoot) -> Result<Vec<PerInterface<InterfaceStatus>>, ReportError> {
    Ok(each::read(PinnedInterface::all(root)?, interface_status))
}

/// Reads the status of one attached interface.
pub fn interface_status(pinned: &mut PinnedInterface) -> Result<InterfaceStatus, MapsError> {
    let config = pinned.config()?;
    let policy = pinned.policy(config.generation)?;
    let mode = AttachMode::from_raw(config.mode);
    let filtering = pinned.filtering();
    let tc_mechanism = |role| match pinned.mechanism(role) {
        Some(Mechanism::BpfLink) => "tcx",
        Some(Mechanism::TcFilter) => "clsact",
        None => "none",
    };
    let mechanism = match (mode, pinned.mechanism(LinkPin::Ingress)) {
        (_, None) => "none",
        (Some(AttachMode::Tc), _) => tc_mechanism(LinkPin::Ingress),
        (_, Some(Mechanism::BpfLink)) => "xdp_link",
        (_, Some(Mechanism::TcFilter)) => "clsact",
    };
    Ok(InterfaceStatus {
        filtering: filtering.is_yes(),
        unfiltered: (!filtering.is_yes()).then(|| filtering.to_string()),
        interface: pinned.name().to_owned(),
        mode: mode.map_or("unknown", AttachMode::name),
        mechanism,
        egress_mechanism: tc_mechanism(LinkPin::Egress),
        allow: policy.to_specs(),
        limits: policy.limit_specs(),
        monitor: config.monitor(),
        attached_at: config.attached_at,
        attached_at_utc: humantime::format_rfc3339_seconds(
            UNIX_EPOCH + Duration::from_secs(config.attached_at),
        )
        .to_string(),
        program_id: pinned.program_id(),
        ifindex: config.ifindex,
        present: iface::index(pinned.name()) == Some(config.ifindex),
    })
}
