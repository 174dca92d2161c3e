//! Transport protocols with ports, and the IP protocol numbers the verdict looks for.

#[cfg(doc)]
use crate::{CidrKey, map_name};

/// Transport protocols that have ports, as an index into per-protocol tables.
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Proto {
    /// TCP (IP protocol 6).
    Tcp = 0,
    /// UDP (IP protocol 17).
    Udp = 1,
    /// UDP-Lite (IP protocol 136).
    UdpLite = 2,
    /// SCTP (IP protocol 132).
    Sctp = 3,
    /// DCCP (IP protocol 33).
    Dccp = 4,
}

/// Number of [`Proto`] values: the length of per-protocol tables.
pub const PROTO_COUNT: u32 = 5;

/// [`CidrKey::proto`] of an entry for an IP protocol without ports, whose number is then in
/// [`CidrKey::port_be`].
pub const CIDR_IP_PROTOCOL: u8 = 0xff;

/// IP protocol numbers the verdict itself looks for.
pub mod ip_protocol {
    pub const ICMP: u8 = 1;
    pub const IGMP: u8 = 2;
    pub const TCP: u8 = 6;
    pub const UDP: u8 = 17;
    pub const DCCP: u8 = 33;
    pub const ICMPV6: u8 = 58;
    pub const SCTP: u8 = 132;
    pub const UDPLITE: u8 = 136;
}

impl Proto {
    /// Every protocol, in index order.
    pub const ALL: [Self; PROTO_COUNT as usize] =
        [Self::Tcp, Self::Udp, Self::UdpLite, Self::Sctp, Self::Dccp];

    /// The protocol stored as `raw`, if it is one.
    #[must_use]
    pub const fn from_raw(raw: u8) -> Option<Self> {
        match raw {
            0 => Some(Self::Tcp),
            1 => Some(Self::Udp),
            2 => Some(Self::UdpLite),
            3 => Some(Self::Sctp),
            4 => Some(Self::Dccp),
            _ => None,
        }
    }

    /// The protocol whose IP protocol number is `number`, if it has ports.
    #[must_use]
    pub const fn from_ip_protocol(number: u8) -> Option<Self> {
        match number {
            ip_protocol::TCP => Some(Self::Tcp),
            ip_protocol::UDP => Some(Self::Udp),
            ip_protocol::UDPLITE => Some(Self::UdpLite),
            ip_protocol::SCTP => Some(Self::Sctp),
            ip_protocol::DCCP => Some(Self::Dccp),
            _ => None,
        }
    }

    /// The IP protocol number.
    #[must_use]
    pub const fn ip_protocol(self) -> u8 {
        match self {
            Self::Tcp => ip_protocol::TCP,
            Self::Udp => ip_protocol::UDP,
            Self::UdpLite => ip_protocol::UDPLITE,
            Self::Sctp => ip_protocol::SCTP,
            Self::Dccp => ip_protocol::DCCP,
        }
    }

    /// The protocol named `name` (as [`Proto::name`] writes it, in any case).
    #[must_use]
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|proto| proto.name().eq_ignore_ascii_case(name))
    }

    /// The lowercase name used in specs, JSON and metric labels.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::Tcp => "tcp",
            Self::Udp => "udp",
            Self::UdpLite => "udplite",
            Self::Sctp => "sctp",
            Self::Dccp => "dccp",
        }
    }

    /// The [`map_name::PORTS`] flag that opens a port to every source.
    #[must_use]
    pub const fn allow_flag(self) -> u16 {
        1 << self as u16
    }

    /// The [`map_name::PORTS`] flag that says source CIDRs are listed for a port.
    #[must_use]
    pub const fn cidr_flag(self) -> u16 {
        1 << (8 + self as u16)
    }
}
