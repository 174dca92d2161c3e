//! Header parsing: the one module that turns packet offsets into pointers.
//!
//! A [`Cursor`] walks the frame; every read goes through [`Cursor::take`], which compares the
//! end of the header with the end of the packet before handing out a pointer. That comparison
//! is what lets the verifier accept the later dereference.

use core::{mem::size_of, ptr::read_unaligned};

use fwxdp_common::{FAMILY_V4, Proto};
use network_types::{eth::EthHdr, vlan::VlanHdr};

mod address;
mod ip;
mod transport;
mod tunnel;

use ip::{ipv4, ipv6};
pub(crate) use tunnel::{Tunnel, carried};

/// VLAN tags walked: 802.1ad outer plus 802.1Q inner.
pub(crate) const VLAN_MAX_DEPTH: usize = 2;
/// IPv6 extension headers walked before giving up. Bounds the loop for the verifier and keeps
/// the packet offset range small (each header is at most 2 KiB).
pub(crate) const IPV6_EXT_MAX_CHAIN: usize = 8;

const ETH_P_IPV4: u16 = 0x0800;
const ETH_P_IPV6: u16 = 0x86dd;
const ETH_P_8021Q: u16 = 0x8100;
const ETH_P_8021AD: u16 = 0x88a8;

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

    /// A cursor `offset` bytes into the frame at `data`.
    #[inline(always)]
    const fn at(data: usize, offset: usize, data_end: usize) -> Self {
        Self {
            pos: data + offset,
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
    /// The IP protocol number of the transport (after IPv6 extension headers and AH); before
    /// [`Packet::upper`], the one the fixed header names.
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
    /// For [`Transport::Protocol`], where the transport payload starts and ends (by the IP
    /// length fields), as offsets from the IP header. 0 otherwise.
    payload_start: usize,
    payload_end: usize,
    /// For a packet of [`frame`], where its IP header starts in the frame.
    ip_offset: usize,
    /// For a packet of [`carried`], where the tunnel packet's payload ends in the frame.
    carried_end: usize,
    /// Where [`Packet::upper`] goes on: the cursor behind the fixed IP header (and IPv4
    /// options), then behind the last header it read; the protocol the IP header names,
    /// and what its length fields leave.
    rest: Cursor,
    next: u8,
    remaining: usize,
    /// An IPv4 fragment other than the first.
    later_fragment: bool,
}

/// Parses Ethernet, up to [`VLAN_MAX_DEPTH`] VLAN tags (less `outer_tags`, which the kernel
/// already took off the frame), and the fixed IPv4 or IPv6 header; [`Packet::upper`] reads
/// the rest. With `ip_frames` (a device without a link-layer header) the frame starts at the
/// IP header, whose version says which.
///
/// Two steps, so that the verdict judges the source (loopback, blocklist) before the
/// transport header makes the packets differ: the verifier then walks those checks once
/// per family, not once per transport.
#[inline(always)]
pub(crate) fn frame(data: usize, data_end: usize, outer_tags: usize, ip_frames: bool) -> Packet {
    let mut packet = Packet::empty();
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
    packet.ip_offset = converge(&mut c, data);
    packet.kind = match ether_type {
        Some(ETH_P_IPV4) => ipv4(&mut c, &mut packet),
        Some(ETH_P_IPV6) => ipv6(&mut c, &mut packet),
        Some(_) => Kind::NonIp,
        None => Kind::Malformed,
    };
    packet.rest = c;
    packet
}

// `converge` masks the offset below 32: the longest framing must fit.
const _: () = assert!(size_of::<EthHdr>() + VLAN_MAX_DEPTH * size_of::<VlanHdr>() < 32);

/// Turns the cursor's offset (14, 18 or 22 bytes, or 0 on an IP device) into one value the
/// verifier does not know, below 32. Packet pointers with different constant offsets never
/// prune one another, so without this every tagging walked the whole verdict again.
/// Subtracting two packet pointers gives an unknown scalar (root may; fwxdp needs root).
/// Returns the offset, which also spares the rest of the program `data` (a pointer whose
/// known range differs per framing too).
#[inline(always)]
fn converge(c: &mut Cursor, data: usize) -> usize {
    let offset = (core::hint::black_box(c.pos) - data) & 0x1f;
    c.pos = data + offset;
    offset
}

impl Packet {
    /// A packet with every field written: malformed until a parser says otherwise.
    #[inline(always)]
    const fn empty() -> Self {
        Self {
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
            payload_start: 0,
            payload_end: 0,
            ip_offset: 0,
            carried_end: 0,
            rest: Cursor::new(0, 0),
            next: 0,
            remaining: 0,
            later_fragment: false,
        }
    }

    /// Reads what follows the fixed IP header of an IP packet: the IPv4 fragment offset, AH,
    /// the IPv6 extension headers and the transport header. Does nothing for other frames.
    #[inline(always)]
    pub(crate) fn upper(&mut self) {
        if self.kind != Kind::Ip {
            return;
        }
        let mut c = Cursor::new(self.rest.pos, self.rest.end);
        if self.family == FAMILY_V4 {
            ip::ipv4_upper(&mut c, self);
        } else {
            ip::ipv6_upper(&mut c, self);
        }
        self.rest = c;
    }
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

/// `value`, which LLVM may no longer fold into the expression it came from (it would turn
/// `data + (ip - data)` back into `ip`, and the verifier would see the old pointer). A
/// difference of packet pointers is a number the verifier knows nothing of until it is
/// bounded: the point of taking it.
#[inline(always)]
fn opaque(value: usize) -> usize {
    // SAFETY: a read of a local.
    unsafe { core::ptr::read_volatile(&raw const value) }
}

/// `value` if it is at most `max` (a power of two), with its bound on the register that is
/// then used: the mask is not folded away, since LLVM cannot see through [`opaque`]. Older
/// verifiers (Linux 6.1) do not carry a bound checked on one copy of a value to a copy LLVM
/// spilled to the stack before the check, and refuse the pointer arithmetic that follows.
#[inline(always)]
fn within(value: usize, max: usize) -> Option<usize> {
    if opaque(value) > max {
        return None;
    }
    Some(opaque(value) & (2 * max - 1))
}

/// The furthest into a frame an IP header may start. No real frame comes near it; the bound
/// only gives the verifier a range.
const IP_MAX_OFFSET: usize = 4096;

/// Re-derives [`Packet::ip`] from its offset, a number of which the verifier knows only the
/// bound. However the parser got there (tags, tunnels, IPv6 headers), the verdict then
/// starts from one state per family, which the verifier walks once instead of once per
/// header chain. The fixed header is checked again, which it always passes.
#[inline(always)]
fn settle(packet: &mut Packet, data: usize, data_end: usize) -> Kind {
    let Some(offset) = within(packet.ip - data, IP_MAX_OFFSET) else {
        return Kind::Malformed;
    };
    let ip = data + offset;
    let fits = if packet.family == FAMILY_V4 {
        ip + size_of::<network_types::ip::Ipv4Hdr>() <= data_end
    } else {
        ip + size_of::<network_types::ip::Ipv6Hdr>() <= data_end
    };
    if !fits {
        return Kind::Malformed;
    }
    packet.ip = ip;
    Kind::Ip
}
