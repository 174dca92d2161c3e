//! The packet inside an IP tunnel packet, as Linux would decapsulate it: IPv4 or IPv6 in IPv4
//! or IPv6 (ipip, sit, ip6tnl devices) and GRE carrying IPv4, IPv6, WCCP or Ethernet (gre,
//! ip6gre, gretap devices). Judging it on the wire, where the outer packet arrives, does not
//! depend on how each kernel frames a tunnel device's packets, nor on the device existing.

use core::ptr::read_unaligned;

use super::{
    Cursor, ETH_P_IPV4, ETH_P_IPV6, Kind, Packet, Transport, ethernet, ipv4, ipv6, opaque, settle,
    within,
};

/// The furthest into a frame an inner packet may start: past two VLAN tags, IPv6 with the
/// longest extension-header walk and a GRE header it can be no further in a frame that fits
/// what TC makes linear; XDP frames are not longer in practice.
const INNER_MAX_OFFSET: usize = 4096;

const IPPROTO_IPIP: u8 = 4;
const IPPROTO_IPV6: u8 = 41;
const IPPROTO_GRE: u8 = 47;
/// The three, one bit each.
const TUNNEL_PROTOCOLS: u64 = 1 << IPPROTO_IPIP | 1 << IPPROTO_IPV6 | 1 << IPPROTO_GRE;

/// Transparent Ethernet bridging: a whole Ethernet frame (gretap, ip6gretap).
const ETH_P_TEB: u16 = 0x6558;
/// WCCP: IPv4, behind a 4-byte redirect header in version 2 (`gre_parse_header`).
const ETH_P_WCCP: u16 = 0x883e;

/// GRE flags that add a 4-byte field each: checksum (with reserved1), key, sequence number.
const GRE_CSUM: u16 = 0x8000;
const GRE_KEY: u16 = 0x2000;
const GRE_SEQ: u16 = 0x1000;
/// GRE flags Linux refuses to decapsulate with (routing, a version other than 0: PPTP's
/// enhanced GRE goes to PPP, not to an IP tunnel).
const GRE_ROUTING: u16 = 0x4000;
const GRE_VERSION: u16 = 0x0007;

impl Packet {
    /// Whether the packet is of a protocol that carries an IP packet Linux may decapsulate
    /// and deliver (IP-in-IP or GRE); [`inner`] says what it carries.
    #[inline(always)]
    pub(crate) fn is_tunnel(&self) -> bool {
        // A bit test, not comparisons: each comparison would split the range of the
        // protocol number, and the verifier would walk the rest once per piece.
        let bit = u64::from(self.ip_proto & 63);
        self.kind == Kind::Ip
            && self.transport == Transport::Protocol
            && self.ip_proto < 64
            && (TUNNEL_PROTOCOLS >> bit) & 1 != 0
    }
}

/// What the ingress program hands the inner one about a [tunnel packet](Packet::is_tunnel)
/// it judged and passed: its protocol, and where its payload starts and ends (by the IP
/// length fields), as offsets into the frame. The inner program parses only what it
/// carries.
#[repr(C)]
#[derive(Clone, Copy)]
pub(crate) struct Tunnel {
    start: u32,
    end: u32,
    protocol: u8,
    _pad: [u8; 3],
}

impl Packet {
    /// Where this tunnel packet's payload is, as [`Tunnel`] says it; for a packet of
    /// [`super::frame`].
    #[inline(always)]
    pub(crate) fn tunnel(&self) -> Tunnel {
        // Past the bound of `within` when too far, so the carried packet is malformed.
        let offset = |at: usize| u32::try_from(self.ip_offset + at).unwrap_or(u32::MAX);
        Tunnel {
            start: offset(self.payload_start),
            end: offset(self.payload_end),
            protocol: self.ip_proto,
            _pad: [0; 3],
        }
    }
}

/// What the tunnel packet `tunnel` describes carries, parsed as [`super::frame`]
/// parses a frame, up to its fixed IP header; [`Packet::upper_carried`] reads the rest.
/// Every header read must lie within the outer packet's payload, or the inner packet is
/// malformed: a first fragment must hold the inner headers, as it must hold
/// any transport header (RFC 1858). A payload that is not an IP packet or Ethernet frame
/// Linux would deliver as such (GRE of other kinds: MPLS, ERSPAN, NSH, PPTP) is
/// [`Kind::NonIp`]: it reaches no socket.
///
/// Offsets meet as numbers the verifier knows only the bound of ([`within`]) where header
/// chains of different lengths join, so it walks the source checks once per family.
#[inline(always)]
pub(crate) fn carried(data: usize, data_end: usize, tunnel: &Tunnel) -> Packet {
    let mut inner = Packet::empty();
    let end = tunnel.end as usize;
    let Some(start) = within(tunnel.start as usize, INNER_MAX_OFFSET) else {
        return inner;
    };
    let mut c = Cursor::at(data, start, data_end);
    let ether_type = match tunnel.protocol {
        IPPROTO_IPIP => ETH_P_IPV4,
        IPPROTO_IPV6 => ETH_P_IPV6,
        _ => match gre(&mut c) {
            Carried::Frame(ether_type) => ether_type,
            Carried::Malformed => return inner,
            Carried::Other => {
                inner.kind = Kind::NonIp;
                return inner;
            }
        },
    };
    if ether_type != ETH_P_IPV4 && ether_type != ETH_P_IPV6 {
        // ARP and the like, bridged: not IP, as on any Ethernet device.
        inner.kind = Kind::NonIp;
        return inner;
    }
    let Some(at) = within(c.pos - data, INNER_MAX_OFFSET) else {
        return inner;
    };
    let mut c = Cursor::at(data, at, data_end);
    let kind = if ether_type == ETH_P_IPV4 {
        ipv4(&mut c, &mut inner)
    } else {
        ipv6(&mut c, &mut inner)
    };
    // The fixed header here, the rest in `upper_carried`, after the source is judged.
    inner.kind = if kind == Kind::Ip && opaque(c.pos - data) <= end {
        settle(&mut inner, data, data_end)
    } else {
        Kind::Malformed
    };
    inner.rest = c;
    inner.carried_end = end;
    inner
}

impl Packet {
    /// [`Packet::upper`] for a packet from [`carried`]: headers that reach past the tunnel
    /// packet's payload hide the transport (malformed).
    #[inline(always)]
    pub(crate) fn upper_carried(&mut self, data: usize) {
        self.upper();
        if self.kind == Kind::Ip && opaque(self.rest.pos - data) > self.carried_end {
            // What was read past the payload is not the packet's: no ports, no flags.
            self.transport = Transport::Hidden;
            self.src_port = 0;
            self.dst_port = 0;
            self.syn = false;
            self.ack = false;
        }
    }
}

/// What a tunnel packet's payload holds, the cursor standing at it.
enum Carried {
    /// A frame of this `EtherType`.
    Frame(u16),
    /// Headers cut short.
    Malformed,
    /// Not a packet Linux decapsulates.
    Other,
}

/// The GRE header at the cursor, and what follows it.
#[inline(always)]
fn gre(c: &mut Cursor) -> Carried {
    let Some(header) = c.take::<[u8; 4]>() else {
        return Carried::Malformed;
    };
    // SAFETY: `take` checked that the four bytes lie inside the packet.
    let header = unsafe { read_unaligned(header) };
    let flags = u16::from_be_bytes([header[0], header[1]]);
    let protocol = u16::from_be_bytes([header[2], header[3]]);
    if flags & (GRE_ROUTING | GRE_VERSION) != 0 {
        return Carried::Other;
    }
    let mut len = 0;
    for flag in [GRE_CSUM, GRE_KEY, GRE_SEQ] {
        if flags & flag != 0 {
            len += 4;
        }
    }
    if c.skip(len).is_none() {
        return Carried::Malformed;
    }
    match protocol {
        ETH_P_IPV4 | ETH_P_IPV6 => Carried::Frame(protocol),
        ETH_P_WCCP if flags == 0 => {
            // Linux skips the redirect header unless an IPv4 header starts right here.
            match c.peek() {
                Some(version) if version >> 4 == 4 => Carried::Frame(ETH_P_IPV4),
                Some(_) if c.skip(4).is_some() => Carried::Frame(ETH_P_IPV4),
                _ => Carried::Malformed,
            }
        }
        ETH_P_TEB => match ethernet(c, 0) {
            Some(ether_type) => Carried::Frame(ether_type),
            None => Carried::Malformed,
        },
        _ => Carried::Other,
    }
}
