//! Header parsing: the one module that turns packet offsets into pointers.
//!
//! A [`Cursor`] walks the frame; every read goes through [`Cursor::take`], which compares the
//! end of the header with the end of the packet before handing out a pointer. That comparison
//! is what lets the verifier accept the later dereference.

use core::{mem::size_of, ptr::read_unaligned};

use fwxdp_common::{FAMILY_V4, FAMILY_V6, Proto, ip_protocol};
use network_types::{
    eth::EthHdr,
    ip::{Ipv4Hdr, Ipv6Hdr},
    tcp::TcpHdr,
    udp::UdpHdr,
    vlan::VlanHdr,
};

/// VLAN tags walked: 802.1ad outer plus 802.1Q inner.
pub(crate) const VLAN_MAX_DEPTH: usize = 2;
/// IPv6 extension headers walked before giving up. Bounds the loop for the verifier and keeps
/// the packet offset range small (each header is at most 2 KiB).
pub(crate) const IPV6_EXT_MAX_CHAIN: usize = 8;

const ETH_P_IPV4: u16 = 0x0800;
const ETH_P_IPV6: u16 = 0x86dd;
const ETH_P_8021Q: u16 = 0x8100;
const ETH_P_8021AD: u16 = 0x88a8;

const IPPROTO_HOPOPTS: u8 = 0;
const IPPROTO_ROUTING: u8 = 43;
const IPPROTO_FRAGMENT: u8 = 44;
const IPPROTO_AH: u8 = 51;
const IPPROTO_DSTOPTS: u8 = 60;

/// A position in the packet and the packet's end, both as addresses.
pub(crate) struct Cursor {
    pos: usize,
    end: usize,
}

impl Cursor {
    #[inline(always)]
    pub(crate) const fn new(data: usize, data_end: usize) -> Self {
        Self {
            pos: data,
            end: data_end,
        }
    }

    /// A pointer to the `T` at the cursor, advancing past it; `None` if the packet is shorter.
    #[inline(always)]
    fn take<T>(&mut self) -> Option<*const T> {
        let start = self.pos;
        // The verifier needs this exact shape: packet pointer plus constant, compared with end.
        if start + size_of::<T>() > self.end {
            return None;
        }
        self.pos = start + size_of::<T>();
        Some(start as *const T)
    }

    /// The first byte at the cursor, without advancing; `None` when fewer than two bytes
    /// remain (no IP header is that short). Two, because LLVM turns a one-byte bound into a
    /// comparison the verifier cannot use.
    #[inline(always)]
    fn peek(&self) -> Option<u8> {
        let mut ahead = Cursor::new(self.pos, self.end);
        let bytes = ahead.take::<[u8; 2]>()?;
        // SAFETY: `take` checked that the bytes lie inside the packet.
        Some(unsafe { (*bytes)[0] })
    }

    /// Advances by `len` bytes; `None` if the packet is shorter.
    #[inline(always)]
    fn skip(&mut self, len: usize) -> Option<()> {
        if self.pos + len > self.end {
            return None;
        }
        self.pos += len;
        Some(())
    }
}

/// What kind of frame the parser found.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Not IPv4 or IPv6 (ARP, LLDP...).
    NonIp,
    /// Cut short or inconsistent below the transport layer.
    Malformed,
    /// IPv4 or IPv6; the addresses and transport fields are set.
    Ip,
}

/// The smallest headers of the datagram protocols with ports: what must be there for the
/// packet to be one the kernel would deliver.
const UDP_HEADER_LEN: usize = 8;
const SCTP_HEADER_LEN: usize = 12;
const DCCP_HEADER_LEN: usize = 12;
/// An IPv4 AH header is at least its fixed part (12 bytes).
const AH_MIN_LEN: usize = 12;

/// What the transport layer of an IP packet says, as far as the filter cares.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Transport {
    /// The ports and the SYN/ACK flags are set.
    Tcp,
    /// UDP, UDP-Lite, SCTP or DCCP ([`Packet::ip_proto`] says which): the ports are set.
    Datagram,
    /// A protocol the verdict passes unjudged: ICMP, `ICMPv6`, IGMP.
    Unfiltered,
    /// Any other IP protocol ([`Packet::ip_proto`]): it has no ports.
    Protocol,
    /// A fragment other than the first: it carries no ports.
    LaterFragment,
    /// A transport header cut short, or an IP header chain longer than the walk: the ports
    /// of a possible new connection are hidden.
    Hidden,
}

/// A parsed frame. A flat struct with every field always written, rather than enums with
/// payloads: LLVM may copy an unset payload, and the verifier rejects reading an
/// uninitialised register.
///
/// The addresses stay in the packet and are read where a verdict needs them: copying 32
/// bytes out of every frame was most of the cost of a verdict for an open port.
pub(crate) struct Packet {
    pub(crate) kind: Kind,
    /// [`FAMILY_V4`] or [`FAMILY_V6`].
    pub(crate) family: u8,
    /// The address of the IP header, whose fixed part lies inside the packet when
    /// [`Packet::kind`] is [`Kind::Ip`]; 0 otherwise.
    ip: usize,
    pub(crate) transport: Transport,
    /// The IP protocol number of the transport (after IPv6 extension headers and AH).
    pub(crate) ip_proto: u8,
    /// For [`Transport::Tcp`] and [`Transport::Datagram`], the protocol whose ports are set,
    /// so that the verdict need not dispatch on [`Packet::ip_proto`] again.
    pub(crate) proto: Proto,
    /// Host byte order.
    pub(crate) src_port: u16,
    /// Host byte order.
    pub(crate) dst_port: u16,
    pub(crate) syn: bool,
    pub(crate) ack: bool,
}

/// Where the addresses lie in each family's fixed header.
const IPV4_SRC: usize = 12;
const IPV4_DST: usize = 16;
const IPV6_SRC: usize = 8;
const IPV6_DST: usize = 24;

impl Packet {
    /// The source address, network order; IPv4 in the first four bytes. Only for an IP packet.
    #[inline(always)]
    pub(crate) fn src(&self) -> [u8; 16] {
        self.address(IPV4_SRC, IPV6_SRC)
    }

    /// The destination address, as [`Packet::src`].
    #[inline(always)]
    pub(crate) fn dst(&self) -> [u8; 16] {
        self.address(IPV4_DST, IPV6_DST)
    }

    #[inline(always)]
    fn address(&self, v4: usize, v6: usize) -> [u8; 16] {
        let mut addr = [0; 16];
        // SAFETY: `ip` is the fixed header of this family, which holds the address; the
        // reads are unaligned.
        unsafe {
            if self.family == FAMILY_V4 {
                let v4 = read_unaligned((self.ip + v4) as *const [u8; 4]);
                addr[..4].copy_from_slice(&v4);
            } else {
                addr = read_unaligned((self.ip + v6) as *const [u8; 16]);
            }
        }
        addr
    }

    /// Whether either address is a loopback one: `127.0.0.0/8`, `::1` or
    /// `::ffff:127.0.0.0/104`. Reads one byte of each address unless it starts with zero.
    #[inline(always)]
    pub(crate) fn is_loopback(&self) -> bool {
        if self.family == FAMILY_V4 {
            // SAFETY: as in `address`.
            let (src, dst) = unsafe {
                (
                    *((self.ip + IPV4_SRC) as *const u8),
                    *((self.ip + IPV4_DST) as *const u8),
                )
            };
            return src == 127 || dst == 127;
        }
        self.is_loopback_v6(IPV6_SRC) || self.is_loopback_v6(IPV6_DST)
    }

    #[inline(always)]
    fn is_loopback_v6(&self, at: usize) -> bool {
        // SAFETY: as in `address`.
        if unsafe { *((self.ip + at) as *const u8) } != 0 {
            return false;
        }
        // SAFETY: as in `address`.
        let addr = unsafe { read_unaligned((self.ip + at) as *const [u8; 16]) };
        let head = u64::from_be_bytes([
            addr[0], addr[1], addr[2], addr[3], addr[4], addr[5], addr[6], addr[7],
        ]);
        let mid = u32::from_be_bytes([addr[8], addr[9], addr[10], addr[11]]);
        let tail = u32::from_be_bytes([addr[12], addr[13], addr[14], addr[15]]);
        head == 0 && ((mid == 0 && tail == 1) || (mid == 0xffff && addr[12] == 127))
    }
}

/// Parses Ethernet, up to [`VLAN_MAX_DEPTH`] VLAN tags (less `outer_tags`, which the kernel
/// already took off the frame), and IPv4 or IPv6 with their transport header. With
/// `ip_frames` (a device without a link-layer header) the frame starts at the IP header,
/// whose version says which.
#[inline(always)]
pub(crate) fn frame(data: usize, data_end: usize, outer_tags: usize, ip_frames: bool) -> Packet {
    let mut packet = Packet {
        kind: Kind::Malformed,
        family: 0,
        ip: 0,
        transport: Transport::Unfiltered,
        ip_proto: 0,
        proto: Proto::Tcp,
        src_port: 0,
        dst_port: 0,
        syn: false,
        ack: false,
    };
    let mut c = Cursor::new(data, data_end);
    let ether_type = if ip_frames {
        // Anything but IPv4 or IPv6 on an IP device hides what it carries: malformed.
        match c.peek().map(|b| b >> 4) {
            Some(4) => Some(ETH_P_IPV4),
            Some(6) => Some(ETH_P_IPV6),
            _ => None,
        }
    } else {
        ethernet(&mut c, outer_tags)
    };
    packet.kind = match ether_type {
        Some(ETH_P_IPV4) => ipv4(&mut c, &mut packet),
        Some(ETH_P_IPV6) => ipv6(&mut c, &mut packet),
        Some(_) => Kind::NonIp,
        None => Kind::Malformed,
    };
    packet
}

#[inline(always)]
const fn is_vlan(ether_type: u16) -> bool {
    ether_type == ETH_P_8021Q || ether_type == ETH_P_8021AD
}

/// The `EtherType` after the Ethernet header and its VLAN tags, in host order. A tag beyond
/// [`VLAN_MAX_DEPTH`] (counting `outer_tags`) would hide the payload, so it counts as
/// malformed.
#[inline(always)]
fn ethernet(c: &mut Cursor, outer_tags: usize) -> Option<u16> {
    let eth: *const EthHdr = c.take()?;
    // SAFETY: `take` checked that the header lies inside the packet.
    let mut ether_type = u16::from_be(unsafe { read_unaligned(&raw const (*eth).ether_type) });
    for depth in 0..VLAN_MAX_DEPTH {
        if !is_vlan(ether_type) {
            return Some(ether_type);
        }
        if depth + outer_tags >= VLAN_MAX_DEPTH {
            return None;
        }
        let vlan: *const VlanHdr = c.take()?;
        // SAFETY: as above.
        ether_type = u16::from_be(unsafe { read_unaligned(&raw const (*vlan).ether_type) });
    }
    if is_vlan(ether_type) {
        None
    } else {
        Some(ether_type)
    }
}

#[inline(always)]
fn ipv4(c: &mut Cursor, packet: &mut Packet) -> Kind {
    let Some(ip) = c.take::<Ipv4Hdr>() else {
        return Kind::Malformed;
    };
    let ip_addr = ip as usize;
    // SAFETY: `take` checked that the fixed header lies inside the packet.
    let ip = unsafe { &*ip };
    let header_len = usize::from(ip.ihl());
    if ip.version() != 4 || header_len < Ipv4Hdr::LEN {
        return Kind::Malformed;
    }
    let total_len = usize::from(u16::from_be_bytes(ip.tot_len));
    if total_len < header_len {
        return Kind::Malformed;
    }
    // Options: the IHL is at most 60, which keeps the offset range small for the verifier.
    if c.skip(header_len - Ipv4Hdr::LEN).is_none() {
        return Kind::Malformed;
    }
    packet.family = FAMILY_V4;
    packet.ip = ip_addr;
    if ip.frag_offset() != 0 {
        packet.transport = Transport::LaterFragment;
        return Kind::Ip;
    }
    let remaining = total_len - header_len;
    if ip.proto == IPPROTO_AH {
        // AH authenticates the transport header behind it, which is judged like any other.
        match authentication_header(c, remaining) {
            Some((next, remaining)) => transport(c, next, remaining, packet),
            None => packet.transport = Transport::Hidden,
        }
    } else {
        transport(c, ip.proto, remaining, packet);
    }
    Kind::Ip
}

/// Skips an IPv4 AH header within the `remaining` bytes the IP length leaves; returns the
/// protocol after it and what remains for that.
#[inline(always)]
fn authentication_header(c: &mut Cursor, remaining: usize) -> Option<(u8, usize)> {
    let h = c.take::<[u8; 2]>()?;
    // SAFETY: `take` checked that the two bytes lie inside the packet.
    let [next, units] = unsafe { *h };
    // 4-byte units minus 2: at most 1 KiB, so the offset range stays bounded.
    let len = (usize::from(units) + 2) * 4;
    if len < AH_MIN_LEN || len > remaining {
        return None;
    }
    c.skip(len - 2)?;
    Some((next, remaining - len))
}

#[inline(always)]
fn ipv6(c: &mut Cursor, packet: &mut Packet) -> Kind {
    let Some(ip) = c.take::<Ipv6Hdr>() else {
        return Kind::Malformed;
    };
    let ip_addr = ip as usize;
    // SAFETY: `take` checked that the fixed header lies inside the packet.
    let ip = unsafe { &*ip };
    if ip.version() != 6 {
        return Kind::Malformed;
    }
    packet.family = FAMILY_V6;
    packet.ip = ip_addr;
    match extension_headers(
        c,
        ip.next_hdr,
        usize::from(u16::from_be_bytes(ip.payload_len)),
    ) {
        Chain::Transport { next, remaining } => transport(c, next, remaining, packet),
        Chain::LaterFragment => packet.transport = Transport::LaterFragment,
        Chain::Hidden => packet.transport = Transport::Hidden,
    }
    Kind::Ip
}

enum Chain {
    /// The chain ended at upper-layer protocol `next`; the cursor is at its header, and the
    /// payload length leaves `remaining` bytes for it.
    Transport {
        next: u8,
        remaining: usize,
    },
    LaterFragment,
    Hidden,
}

/// Walks hop-by-hop, routing, fragment, destination options and AH headers, at most
/// [`IPV6_EXT_MAX_CHAIN`] of them, within the `remaining` bytes of the payload length.
#[inline(always)]
fn extension_headers(c: &mut Cursor, mut next: u8, mut remaining: usize) -> Chain {
    for _ in 0..IPV6_EXT_MAX_CHAIN {
        match next {
            IPPROTO_HOPOPTS | IPPROTO_ROUTING | IPPROTO_DSTOPTS | IPPROTO_AH => {
                let Some(h) = c.take::<[u8; 2]>() else {
                    return Chain::Hidden;
                };
                // SAFETY: `take` checked that the two bytes lie inside the packet.
                let [following, units] = unsafe { *h };
                // AH counts 4-byte units minus 2, the others 8-byte units minus 1; at most
                // 2 KiB a header, so the offset range stays bounded for the verifier.
                let len = if next == IPPROTO_AH {
                    (usize::from(units) + 2) * 4
                } else {
                    (usize::from(units) + 1) * 8
                };
                if len > remaining || c.skip(len - 2).is_none() {
                    return Chain::Hidden;
                }
                remaining -= len;
                next = following;
            }
            IPPROTO_FRAGMENT => {
                let Some(h) = c.take::<[u8; 8]>() else {
                    return Chain::Hidden;
                };
                // SAFETY: `take` checked that the eight bytes lie inside the packet.
                let h = unsafe { *h };
                if u16::from_be_bytes([h[2], h[3]]) & 0xfff8 != 0 {
                    return Chain::LaterFragment;
                }
                if remaining < 8 {
                    return Chain::Hidden;
                }
                remaining -= 8;
                next = h[0];
            }
            _ => return Chain::Transport { next, remaining },
        }
    }
    if is_extension(next) {
        Chain::Hidden
    } else {
        Chain::Transport { next, remaining }
    }
}

#[inline(always)]
const fn is_extension(next: u8) -> bool {
    matches!(
        next,
        IPPROTO_HOPOPTS | IPPROTO_ROUTING | IPPROTO_FRAGMENT | IPPROTO_DSTOPTS | IPPROTO_AH
    )
}

/// Reads the transport header at the cursor. `remaining` is what the IP length fields
/// leave for it: bytes past that are Ethernet padding or junk, never header (a tiny first
/// fragment must not have its flags read from the padding, RFC 1858).
#[inline(always)]
fn transport(c: &mut Cursor, proto: u8, remaining: usize, packet: &mut Packet) {
    packet.ip_proto = proto;
    packet.transport = match proto {
        ip_protocol::TCP if remaining < TcpHdr::LEN => Transport::Hidden,
        ip_protocol::UDP | ip_protocol::UDPLITE if remaining < UDP_HEADER_LEN => Transport::Hidden,
        ip_protocol::SCTP if remaining < SCTP_HEADER_LEN => Transport::Hidden,
        ip_protocol::DCCP if remaining < DCCP_HEADER_LEN => Transport::Hidden,
        ip_protocol::TCP => match c.take::<TcpHdr>() {
            Some(tcp) => {
                // SAFETY: `take` checked that the header lies inside the packet.
                let tcp = unsafe { &*tcp };
                packet.src_port = u16::from_be_bytes(tcp.source);
                packet.dst_port = u16::from_be_bytes(tcp.dest);
                packet.syn = tcp.syn() != 0;
                packet.ack = tcp.ack() != 0;
                Transport::Tcp
            }
            None => Transport::Hidden,
        },
        ip_protocol::UDP => datagram::<UdpHdr>(c, Proto::Udp, packet),
        ip_protocol::UDPLITE => datagram::<UdpHdr>(c, Proto::UdpLite, packet),
        ip_protocol::SCTP => datagram::<[u8; SCTP_HEADER_LEN]>(c, Proto::Sctp, packet),
        ip_protocol::DCCP => datagram::<[u8; DCCP_HEADER_LEN]>(c, Proto::Dccp, packet),
        // Each family's own: ICMP and IGMP in IPv4, ICMPv6 in IPv6. In the other family they
        // are protocols like any other (a raw socket would take them).
        ip_protocol::ICMP | ip_protocol::IGMP if packet.family == FAMILY_V4 => {
            Transport::Unfiltered
        }
        ip_protocol::ICMPV6 if packet.family == FAMILY_V6 => Transport::Unfiltered,
        _ => Transport::Protocol,
    };
}

/// Reads the ports of a datagram protocol whose header (at least `H`) starts with the source
/// and destination ports, as UDP, UDP-Lite, SCTP and DCCP all do.
#[inline(always)]
fn datagram<H>(c: &mut Cursor, proto: Proto, packet: &mut Packet) -> Transport {
    let Some(header) = c.take::<H>() else {
        return Transport::Hidden;
    };
    let ports = header.cast::<[u8; 4]>();
    // SAFETY: `take` checked that the whole header, at least four bytes, lies inside the
    // packet; the read is unaligned.
    let ports = unsafe { read_unaligned(ports) };
    packet.src_port = u16::from_be_bytes([ports[0], ports[1]]);
    packet.dst_port = u16::from_be_bytes([ports[2], ports[3]]);
    packet.proto = proto;
    Transport::Datagram
}
