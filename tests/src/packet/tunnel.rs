//! Payloads of tunnel packets: a GRE header with what it carries, and the IP packet of a
//! built frame to put inside one.

/// GRE flags: a checksum (with the reserved word), a key and a sequence number follow.
pub const GRE_CSUM: u16 = 0x8000;
pub const GRE_KEY: u16 = 0x2000;
pub const GRE_SEQ: u16 = 0x1000;
/// Transparent Ethernet bridging: GRE carrying a whole Ethernet frame (gretap).
pub const ETH_P_TEB: u16 = 0x6558;
/// WCCP redirection: GRE carrying IPv4, behind a 4-byte header in version 2.
pub const ETH_P_WCCP: u16 = 0x883e;
/// MPLS unicast: GRE carrying what no IP tunnel device delivers.
pub const ETH_P_MPLS: u16 = 0x8847;

/// A GRE header with `flags` (version in the low 3 bits), each optional field it names
/// zero-filled, then `payload` of `EtherType` `protocol`.
#[must_use]
pub fn gre(flags: u16, protocol: u16, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&flags.to_be_bytes());
    out.extend_from_slice(&protocol.to_be_bytes());
    for flag in [GRE_CSUM, GRE_KEY, GRE_SEQ] {
        if flags & flag != 0 {
            out.extend_from_slice(&[0; 4]);
        }
    }
    out.extend_from_slice(payload);
    out
}

/// The IP packet of an Ethernet frame without VLAN tags: what an IP tunnel carries.
#[must_use]
pub fn ip_packet(frame: &[u8]) -> &[u8] {
    &frame[14..]
}
