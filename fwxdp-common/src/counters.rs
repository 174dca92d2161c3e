//! Verdict reasons and the per-CPU counters kept for them.

#[cfg(doc)]
use crate::{Proto, map_name};
use bytemuck::{Pod, Zeroable};

/// Capacity of [`map_name::PORT_DROPS`]: bounds its memory whatever the number of ports
/// scanned. Drops to ports beyond it are summed in [`map_name::PORT_OVERFLOW`].
pub const PORT_DROPS_MAX_ENTRIES: u32 = 4_096;

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

/// Drops of one (proto, port), and when the port was first dropped.
///
/// `first_seen` is the monotonic clock (ns) at the first drop, written once in the slot of the
/// CPU that inserted the entry (the others stay 0), so the maximum over CPUs orders the ports
/// in time. Exporters itemise the earliest ports: a port once itemised stays itemised.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Pod, Zeroable)]
pub struct PortCounter {
    pub packets: u64,
    pub bytes: u64,
    pub first_seen: u64,
}
const _: () = assert!(size_of::<PortCounter>() == 24);

/// Key of [`map_name::PORT_DROPS`].
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
