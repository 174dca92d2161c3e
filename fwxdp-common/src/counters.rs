//! Verdict reasons and the per-CPU counters kept for them.

use crate::Proto;
#[cfg(doc)]
use crate::map_name;
use bytemuck::{Pod, Zeroable};

/// Slots of [`map_name::PORT_DROPS`] on each CPU: bounds its memory whatever the number of
/// ports scanned. A power of two, so a slot index is a mask away.
pub const PORT_DROPS_MAX_ENTRIES: u32 = 1 << PORT_SLOT_BITS;
const PORT_SLOT_BITS: u32 = 12;

/// Slots looked at for one port, from its home slot on ([`port_slot_home`]): a port whose
/// slots are all taken by other ports is summed in [`map_name::PORT_OVERFLOW`].
pub const PORT_PROBES: u32 = 8;

/// [`PortSlot::key`] of a taken slot: never 0, so a zeroed slot is free.
#[must_use]
pub const fn port_slot_key(proto: Proto, port: u16) -> u32 {
    PORT_SLOT_TAKEN | (proto as u32) << 16 | port as u32
}
const PORT_SLOT_TAKEN: u32 = 1 << 31;

/// The (proto, port) a taken slot's key names.
#[must_use]
pub const fn port_slot_port(key: u32) -> Option<(Proto, u16)> {
    if key & PORT_SLOT_TAKEN == 0 {
        return None;
    }
    #[expect(
        clippy::cast_possible_truncation,
        reason = "the key's low 16 bits are the port"
    )]
    let port = key as u16;
    match Proto::from_raw(((key >> 16) & 0xff) as u8) {
        Some(proto) => Some((proto, port)),
        None => None,
    }
}

/// The first slot a key may take: a multiplicative hash, so that neighbouring ports (a
/// scan) spread over the table.
#[must_use]
pub const fn port_slot_home(key: u32) -> u32 {
    key.wrapping_mul(0x9e37_79b1) >> (32 - PORT_SLOT_BITS)
}

/// Why the verdict passed or dropped a packet: the index into [`map_name::REASONS`].
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Reason {
    /// Passed: a new connection to an allowed port.
    Allowed = 0,
    /// Passed: a new connection from a source CIDR allowed for the port.
    AllowedCidr = 1,
    /// Passed: not a new connection (TCP without a bare SYN, a UDP reply, DHCP client reply).
    Established = 2,
    /// Passed: not judged (non-IP, ICMP, `ICMPv6`, IGMP, non-first fragment).
    Other = 3,
    /// Dropped: a new connection to a port that is not allowed.
    Port = 4,
    /// Dropped: a loopback source or destination address on a non-loopback interface.
    Loopback = 5,
    /// Dropped: malformed so that the ports of a possible new connection are hidden.
    Malformed = 6,
    /// Dropped: a packet of an IP protocol without ports that is not allowed and is not a
    /// reply to this host (GRE, ESP, IPIP...).
    Protocol = 7,
    /// Dropped: a new connection to a rate-limited port from a source over its limit.
    Ratelimit = 8,
    /// Dropped: any packet from a blocked source.
    Blocked = 9,
}

/// Number of [`Reason`] values: the length of [`map_name::REASONS`].
pub const REASON_COUNT: u32 = 10;

impl Reason {
    /// Every reason, in index order.
    pub const ALL: [Self; REASON_COUNT as usize] = [
        Self::Allowed,
        Self::AllowedCidr,
        Self::Established,
        Self::Other,
        Self::Port,
        Self::Loopback,
        Self::Malformed,
        Self::Protocol,
        Self::Ratelimit,
        Self::Blocked,
    ];

    /// Whether the verdict for this reason is to drop (unless in monitor mode).
    #[must_use]
    pub const fn is_drop(self) -> bool {
        matches!(
            self,
            Self::Port
                | Self::Loopback
                | Self::Malformed
                | Self::Protocol
                | Self::Ratelimit
                | Self::Blocked
        )
    }

    /// The lowercase name used in JSON and metric labels.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::Allowed => "allowed",
            Self::AllowedCidr => "allowed_cidr",
            Self::Established => "established",
            Self::Other => "other",
            Self::Port => "port",
            Self::Loopback => "loopback",
            Self::Malformed => "malformed",
            Self::Protocol => "protocol",
            Self::Ratelimit => "ratelimit",
            Self::Blocked => "blocked",
        }
    }
}

/// A packet and byte count. Kept per CPU, summed by userspace.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Pod, Zeroable)]
pub struct Counter {
    pub packets: u64,
    pub bytes: u64,
}
const _: () = assert!(size_of::<Counter>() == 16);

/// One CPU's slot of [`map_name::PORT_DROPS`]: the drops of one (proto, port) on that CPU,
/// and when it took the slot.
///
/// A CPU takes a free slot for a port at the port's first drop there and keeps it while the
/// interface stays attached, so a slot never changes hands and its counts only grow: a
/// reader on another CPU sees a lower bound, never another port's counts. `first_seen` (the
/// monotonic clock, ns) is written before `key`; a slot whose `first_seen` still reads 0 is
/// being taken and counts as free. The earliest `first_seen` of a port over every CPU
/// orders the ports in time; exporters itemise the earliest, so a port once itemised stays
/// itemised.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Pod, Zeroable)]
pub struct PortSlot {
    /// [`port_slot_key`], or 0 while free.
    pub key: u32,
    pub _pad: u32,
    pub packets: u64,
    pub bytes: u64,
    pub first_seen: u64,
}
const _: () = assert!(size_of::<PortSlot>() == 32);

/// Key of [`map_name::LIMIT_DROPS`].
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Pod, Zeroable)]
pub struct PortKey {
    /// Destination port, host byte order.
    pub port: u16,
    /// A [`Proto`] value.
    pub proto: u8,
    pub _pad: u8,
}
const _: () = assert!(size_of::<PortKey>() == 4);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_slot_key_names_its_port_and_is_never_free() {
        for proto in Proto::ALL {
            for port in [0, 1, 22, 65_535] {
                let key = port_slot_key(proto, port);
                assert_ne!(key, 0);
                assert_eq!(port_slot_port(key), Some((proto, port)));
                assert!(port_slot_home(key) < PORT_DROPS_MAX_ENTRIES);
            }
        }
        assert_eq!(port_slot_port(0), None);
    }

    #[test]
    fn a_scan_of_neighbouring_ports_spreads_over_the_table() {
        let mut taken = [false; PORT_DROPS_MAX_ENTRIES as usize];
        for port in 0..1024 {
            taken[port_slot_home(port_slot_key(Proto::Tcp, port)) as usize] = true;
        }
        let distinct = taken.iter().filter(|t| **t).count();
        assert!(distinct > 1000, "{distinct} distinct homes");
    }
}
