//! The egress flow tracker: flows this host started, whose replies pass.

#[cfg(doc)]
use crate::{FAMILY_V4, FAMILY_V6, map_name};
use bytemuck::{Pod, Zeroable};

/// Capacity of [`map_name::FLOWS`]; the least recently used flow is evicted first.
pub const FLOWS_MAX_ENTRIES: u32 = 65_536;
/// A flow this host started admits replies for this long after its last outbound packet.
pub const FLOW_TIMEOUT_NS: u64 = 120 * 1_000_000_000;

/// Key of [`map_name::FLOWS`], from the host's point of view. Protocols without ports have
/// both ports 0.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Pod, Zeroable)]
pub struct FlowKey {
    /// The host's address, network byte order (IPv4 in the first four bytes).
    pub local_addr: [u8; 16],
    /// The peer's address, network byte order (IPv4 in the first four bytes).
    pub remote_addr: [u8; 16],
    /// The host's port, network byte order.
    pub local_port_be: u16,
    /// The peer's port, network byte order.
    pub remote_port_be: u16,
    /// [`FAMILY_V4`] or [`FAMILY_V6`].
    pub family: u8,
    /// The IP protocol number.
    pub protocol: u8,
    pub _pad: [u8; 2],
}
const _: () = assert!(size_of::<FlowKey>() == 40);
