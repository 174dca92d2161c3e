//! The transport header behind the IP headers: ports and flags, or what hides them.

use core::ptr::read_unaligned;

use fwxdp_common::{FAMILY_V4, FAMILY_V6, Proto, ip_protocol};
use network_types::{tcp::TcpHdr, udp::UdpHdr};

use super::{Cursor, Packet, Transport, opaque};

/// The smallest headers of the datagram protocols with ports: what must be there for the
/// packet to be one the kernel would deliver.
const UDP_HEADER_LEN: usize = 8;
const SCTP_HEADER_LEN: usize = 12;
const DCCP_HEADER_LEN: usize = 12;

/// Reads the transport header at the cursor. `remaining` is what the IP length fields
/// leave for it: bytes past that are Ethernet padding or junk, never header (a tiny first
/// fragment must not have its flags read from the padding, RFC 1858).
#[inline(always)]
pub(super) fn transport(c: &mut Cursor, proto: u8, remaining: usize, packet: &mut Packet) {
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
        _ => {
            packet.payload_start = opaque(c.pos - packet.ip);
            packet.payload_end = packet.payload_start + remaining;
            Transport::Protocol
        }
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
