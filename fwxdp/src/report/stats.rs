//! `fwxdp stats`: counter totals per interface, read from the pinned maps.

use std::collections::BTreeMap;

use fwxdp_common::Counter;
use serde::Serialize;

use super::each::{self, PerInterface, ReportError};
use crate::{
    policy::protocols,
    state::{MapsError, PinRoot, PinnedInterface, Totals},
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

/// Drops of reason `protocol` charged to one IP protocol without ports.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct ProtocolDrops {
    /// The name allow items use (`gre`), or the number.
    pub protocol: String,
    pub number: u8,
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
    /// Drops per IP protocol without ports, those with any, by number.
    pub protocols: Vec<ProtocolDrops>,
    /// Drops of reason `ratelimit` per (proto, port), sorted by proto then port.
    pub ratelimited: Vec<PortDrops>,
    /// What the drop log left out.
    pub log: LogCounts,
}

/// Drops the drop log did not carry: over its rate (`suppressed`), or with its ring buffer
/// full because no reader kept up (`lost`).
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct LogCounts {
    pub suppressed: u64,
    pub lost: u64,
}

/// Reads the counters of `iface`, or of every attached interface, each on its own.
pub fn stats(
    root: &PinRoot,
    iface: Option<&str>,
) -> Result<Vec<PerInterface<InterfaceStats>>, ReportError> {
    let mut interfaces = PinnedInterface::all(root)?;
    if let Some(only) = iface {
        interfaces.retain(|pinned| pinned.name() == only);
        if interfaces.is_empty() {
            return Err(ReportError::NotAttached {
                iface: only.to_owned(),
            });
        }
    }
    Ok(each::read(interfaces, interface_stats))
}

/// Reads the counters of one attached interface.
pub fn interface_stats(pinned: &mut PinnedInterface) -> Result<InterfaceStats, MapsError> {
    let monitor = pinned.config()?.monitor();
    Ok(report(pinned.name(), monitor, pinned.counters()?))
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
        protocols: totals
            .protocol_drops
            .into_iter()
            .map(|(number, c)| ProtocolDrops {
                protocol: protocols::name(number),
                number,
                packets: c.packets,
                bytes: c.bytes,
            })
            .collect(),
        log: LogCounts {
            suppressed: totals.log_suppressed,
            lost: totals.log_lost,
        },
        ratelimited: totals
            .limit_drops
            .into_iter()
            .map(|(proto, port, c)| PortDrops {
                proto: proto.name(),
                port,
                packets: c.packets,
                bytes: c.bytes,
            })
            .collect(),
    }
}
