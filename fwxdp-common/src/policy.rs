//! The compiled policy: port and protocol tables, their flags and the CIDR trie key.

use crate::proto::Proto;
#[cfg(doc)]
use crate::{CIDR_IP_PROTOCOL, Config, FlowKey, map_name};
use bytemuck::{Pod, Zeroable};

/// The policy has two generations; userspace fills the inactive one and flips
/// [`Config::generation`], so a packet sees either the whole old policy or the whole new one.
pub const GENERATIONS: u32 = 2;
/// Entries in [`map_name::PORTS`]: one per (generation, port).
pub const PORTS_ENTRIES: u32 = GENERATIONS << 16;
/// Entries in [`map_name::PROTOCOLS`]: one per (generation, IP protocol number).
pub const PROTOCOLS_ENTRIES: u32 = GENERATIONS << 8;
/// Entries in [`map_name::PROTOCOL_DROPS`]: one per IP protocol number.
pub const PROTOCOL_NUMBERS: u32 = 256;
/// Capacity of [`map_name::CIDRS`].
pub const CIDRS_MAX_ENTRIES: u32 = 16_384;

/// [`map_name::PORTS`] flag: the port is open to every source for TCP.
pub const PORT_TCP_ALLOW: u16 = Proto::Tcp.allow_flag();
/// [`map_name::PORTS`] flag: the port is open to every source for UDP.
pub const PORT_UDP_ALLOW: u16 = Proto::Udp.allow_flag();
/// [`map_name::PORTS`] flag: some source CIDRs are allowed on this TCP port.
pub const PORT_TCP_CIDR: u16 = Proto::Tcp.cidr_flag();
/// [`map_name::PORTS`] flag: some source CIDRs are allowed on this UDP port.
pub const PORT_UDP_CIDR: u16 = Proto::Udp.cidr_flag();

/// [`map_name::PORTS`] flag: some protocol on this port has a per-source rate limit in
/// [`map_name::LIMITS`] (which says which).
pub const PORT_LIMIT: u16 = 1 << 15;

/// [`map_name::PROTOCOLS`] flag: the protocol is open to every source.
pub const PROTOCOL_ALLOW: u8 = 1 << 0;
/// [`map_name::PROTOCOLS`] flag: some source CIDRs are allowed for the protocol.
pub const PROTOCOL_CIDR: u8 = 1 << 1;

/// Index of `port` in generation `generation` of [`map_name::PORTS`].
#[must_use]
pub const fn port_index(generation: u8, port: u16) -> u32 {
    ((generation as u32 & 1) << 16) | port as u32
}

/// Index of IP protocol `protocol` in generation `generation` of [`map_name::PROTOCOLS`].
#[must_use]
pub const fn protocol_index(generation: u8, protocol: u8) -> u32 {
    ((generation as u32 & 1) << 8) | protocol as u32
}

/// Address family tag used in [`CidrKey`] and [`FlowKey`].
pub const FAMILY_V4: u8 = 4;
/// Address family tag used in [`CidrKey`] and [`FlowKey`].
pub const FAMILY_V6: u8 = 6;

/// Bits of [`CidrKey`] before the address: generation, proto, family, pad and port.
pub const CIDR_KEY_FIXED_BITS: u32 = 48;

/// The data part of an LPM trie key in [`map_name::CIDRS`].
///
/// The fields before `addr` are always matched in full, so the trie's prefix length is
/// [`CIDR_KEY_FIXED_BITS`] plus the CIDR's own prefix length. An IPv4 address fills the first
/// four bytes of `addr`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Pod, Zeroable)]
pub struct CidrKey {
    /// The policy generation the entry belongs to (0 or 1).
    pub generation: u8,
    /// A [`Proto`] value, or [`CIDR_IP_PROTOCOL`].
    pub proto: u8,
    /// [`FAMILY_V4`] or [`FAMILY_V6`].
    pub family: u8,
    pub _pad: u8,
    /// Destination port, or the IP protocol number under [`CIDR_IP_PROTOCOL`]; network byte
    /// order, so that the key is matched byte by byte.
    pub port_be: u16,
    /// Source address, network byte order.
    pub addr: [u8; 16],
}
const _: () = assert!(size_of::<CidrKey>() == 22);
