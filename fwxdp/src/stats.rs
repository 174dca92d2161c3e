//! `fwxdp stats`: counter totals per interface, read from the pinned maps.

use std::collections::BTreeMap;

use fwxdp_common::{CONFIG_MONITOR, Counter};
use serde::Serialize;

use crate::{
    maps::{CounterMaps, MapsError, PolicyMaps, Source, Totals},
    pins::{PinError, PinRoot},
};

/// A packet and byte total.
#[derive(Clone, Copy, Debug, Default, Serialize, PartialEq, Eq)]
pub struct Count {
    pub packets: u64,
    pub bytes: u64,
}

impl From<Counter> for Count {
    fn from(c: Counter) -> Self {
        Self {
            packets: c.packets,
            bytes: c.bytes,
        }
    }
}

/// Drops charged to one (proto, port).
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct PortDrops {
    pub proto: &'static str,
    pub port: u16,
    pub packets: u64,
    pub bytes: u64,
}

/// Port drops that found the per-port table full, per protocol.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct OverflowDrops {
    pub proto: &'static str,
    pub packets: u64,
    pub bytes: u64,
}

/// The counters of one interface.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct InterfaceStats {
    pub interface: String,
    /// In monitor mode the drop reasons count what would have been dropped.
    pub monitor: bool,
    /// Totals per reason, every reason present.
    pub reasons: BTreeMap<&'static str, Count>,
    /// Drops per (proto, port), sorted by proto then port.
    pub ports: Vec<PortDrops>,
    /// Port drops not itemised because the per-port table was full.
    pub ports_other: Vec<OverflowDrops>,
}

#[derive(Debug, thiserror::Error)]
pub enum StatsError {
    #[error(transparent)]
    Pins(#[from] PinError),
    #[error("interface {iface} is not attached")]
    NotAttached { iface: String },
    #[error("{iface}")]
    Maps { iface: String, source: MapsError },
}

/// One interface's counters, or why they could not be read.
pub type PerInterface = (String, Result<InterfaceStats, StatsError>);

/// Reads the counters of `iface`, or of every attached interface, each on its own: one that
/// cannot be read is an error beside the others, not instead of them.
pub fn stats(root: &PinRoot, iface: Option<&str>) -> Result<Vec<PerInterface>, StatsError> {
    root.verify()?;
    let ifaces = root.interfaces()?;
    if let Some(iface) = iface
        && !ifaces.iter().any(|i| i == iface)
    {
        return Err(StatsError::NotAttached {
            iface: iface.to_owned(),
        });
    }
    Ok(ifaces
        .into_iter()
        .filter(|name| iface.is_none_or(|only| only == name))
        .map(|name| {
            let stats = interface_stats(root, &name);
            (name, stats)
        })
        .collect())
}

/// Reads the counters of one attached interface.
pub fn interface_stats(root: &PinRoot, iface: &str) -> Result<InterfaceStats, StatsError> {
    let dir = root.iface_dir(iface);
    let with_iface = |source| StatsError::Maps {
        iface: iface.to_owned(),
        source,
    };
    let mut source = Source::Pinned(&dir);
    let config = PolicyMaps::open(&mut source)
        .and_then(|maps| maps.config())
        .map_err(with_iface)?;
    let totals = CounterMaps::open(&mut source)
        .and_then(|maps| maps.totals())
        .map_err(with_iface)?;
    Ok(report(iface, config.flags & CONFIG_MONITOR != 0, totals))
}

fn report(iface: &str, monitor: bool, totals: Totals) -> InterfaceStats {
    InterfaceStats {
        interface: iface.to_owned(),
        monitor,
        reasons: totals
            .reasons
            .into_iter()
            .map(|(reason, c)| (reason.name(), c.into()))
            .collect(),
        ports: totals
            .port_drops
            .into_iter()
            .map(|t| PortDrops {
                proto: t.proto.name(),
                port: t.port,
                packets: t.counter.packets,
                bytes: t.counter.bytes,
            })
            .collect(),
        ports_other: totals
            .port_overflow
            .into_iter()
            .map(|(proto, c)| OverflowDrops {
                proto: proto.name(),
                packets: c.packets,
                bytes: c.bytes,
            })
            .collect(),
    }
}
