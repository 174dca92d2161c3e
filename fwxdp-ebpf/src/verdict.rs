//! The verdict for one inbound frame (docs/DESIGN.md, "The verdict"), shared by the XDP and
//! TC entry points. A bounded number of map lookups, whatever the number of rules.

use core::ffi::c_void;

use aya_ebpf::maps::lpm_trie::Key;
use fwxdp_common::{
    CIDR_IP_PROTOCOL, CIDR_KEY_FIXED_BITS, CidrKey, Config, FAMILY_V4, PORT_LIMIT, PROTOCOL_ALLOW,
    PROTOCOL_CIDR, Proto, Reason, port_index, protocol_index,
};

use crate::{
    blocks, flows,
    maps::{FWXDP_CIDRS, FWXDP_PORTS, FWXDP_PROTOCOLS},
    parse::{Kind, Packet, Transport},
    rates,
    sockets::{self, Socket},
};

const DHCPV4_SERVER: u16 = 67;
const DHCPV4_CLIENT: u16 = 68;
const DHCPV6_SERVER: u16 = 547;
const DHCPV6_CLIENT: u16 = 546;

/// Why a frame passes or drops; for a port or rate-limit drop, which (proto, port) to
/// charge, and for a protocol drop, which IP protocol number.
pub(crate) struct Verdict {
    pub(crate) reason: Reason,
    pub(crate) port: Option<(Proto, u16)>,
    pub(crate) protocol: Option<u8>,
}

impl Verdict {
    #[inline(always)]
    const fn because(reason: Reason) -> Self {
        Self {
            reason,
            port: None,
            protocol: None,
        }
    }

    /// A drop of a packet of IP protocol `number`.
    #[inline(always)]
    pub(crate) const fn protocol(number: u8) -> Self {
        Self {
            reason: Reason::Protocol,
            port: None,
            protocol: Some(number),
        }
    }
}

/// Judges what the frame's link and IP headers say (`packet` as [`crate::parse::frame`] left it):
/// a verdict for what is not IP, loopback or blocked; `None` when the transport decides.
#[inline(always)]
pub(crate) fn source(packet: &Packet, config: &Config) -> Option<Verdict> {
    let reason = match packet.kind {
        Kind::NonIp => Reason::Other,
        Kind::Malformed => Reason::Malformed,
        Kind::Ip if packet.is_loopback() => Reason::Loopback,
        Kind::Ip if blocks::blocked(config.block_scope, packet) => Reason::Blocked,
        Kind::Ip => return None,
    };
    Some(Verdict::because(reason))
}

/// Judges an IP packet that [`source`] left to its transport, read by [`Packet::upper`];
/// `ctx` is the program's context (for socket lookups). `carried` says that `packet` came
/// inside a tunnel packet: one level is looked into, so a tunnel packet inside one is
/// dropped (what it carries would not be judged). A tunnel packet that arrived as such is
/// judged as a protocol, and what it carries next if it passes.
#[inline(always)]
pub(crate) fn transport(
    ctx: *mut c_void,
    packet: &Packet,
    config: &Config,
    carried: bool,
) -> Verdict {
    match packet.transport {
        Transport::Unfiltered | Transport::LaterFragment => Verdict::because(Reason::Other),
        Transport::Hidden => Verdict::because(Reason::Malformed),
        Transport::Tcp => {
            if packet.syn && !packet.ack {
                new_connection(config.generation, Proto::Tcp, packet, true)
            } else {
                segment(ctx, config.generation, packet)
            }
        }
        Transport::Datagram => {
            let proto = packet.proto;
            if proto == Proto::Udp && is_dhcp_client_reply(packet) {
                return Verdict::because(Reason::Established);
            }
            // The policy first: the flow table is consulted only for what would be dropped,
            // so datagrams to open ports never pay for it.
            let verdict = new_connection(config.generation, proto, packet, true);
            if verdict.reason == Reason::Port && flows::is_reply(packet) {
                Verdict::because(Reason::Established)
            } else {
                verdict
            }
        }
        Transport::Protocol if carried && packet.is_tunnel() => Verdict::protocol(packet.ip_proto),
        Transport::Protocol => protocol(config.generation, packet),
    }
}

/// A packet of a protocol without ports passes when allowed, or when it answers traffic
/// this host sent.
#[inline(always)]
fn protocol(generation: u8, packet: &Packet) -> Verdict {
    let verdict = new_protocol(generation, packet);
    if verdict.reason == Reason::Protocol && flows::is_reply(packet) {
        Verdict::because(Reason::Established)
    } else {
        verdict
    }
}

#[inline(always)]
fn is_dhcp_client_reply(packet: &Packet) -> bool {
    let (server, client) = if packet.family == FAMILY_V4 {
        (DHCPV4_SERVER, DHCPV4_CLIENT)
    } else {
        (DHCPV6_SERVER, DHCPV6_CLIENT)
    };
    packet.src_port == server && packet.dst_port == client
}

/// A TCP segment that is no bare SYN passes where a SYN would; elsewhere, unless the only
/// socket it could reach is a listener, which would take it as the end of a handshake (a
/// valid SYN cookie). With no socket at all it is not for this host's sockets (forwarded,
/// or NAT-ed into a container) and passes. Ports open to everyone never pay the lookup.
#[inline(always)]
fn segment(ctx: *mut c_void, generation: u8, packet: &Packet) -> Verdict {
    let verdict = new_connection(generation, Proto::Tcp, packet, false);
    if verdict.reason == Reason::Port && sockets::tcp(ctx, packet) == Socket::Listener {
        verdict
    } else {
        Verdict::because(Reason::Established)
    }
}

/// A new connection passes when its port is open (and, with `limit`, its source within the
/// port's rate limit, if it has one), or open to a CIDR holding its source. Without
/// `limit` the question is only whether the port is open to the source: segments of
/// connections are never limited.
#[inline(always)]
fn new_connection(generation: u8, proto: Proto, packet: &Packet, limit: bool) -> Verdict {
    let port = packet.dst_port;
    let flags = FWXDP_PORTS
        .get(port_index(generation, port))
        .copied()
        .unwrap_or(0);
    if flags & proto.allow_flag() != 0 {
        if limit && flags & PORT_LIMIT != 0 && !rates::admit(generation, proto, port, packet) {
            return Verdict {
                reason: Reason::Ratelimit,
                port: Some((proto, port)),
                protocol: None,
            };
        }
        return Verdict::because(Reason::Allowed);
    }
    if flags & proto.cidr_flag() != 0 && source_listed(generation, proto as u8, port, packet) {
        return Verdict::because(Reason::AllowedCidr);
    }
    Verdict {
        reason: Reason::Port,
        port: Some((proto, port)),
        protocol: None,
    }
}

/// A packet of an IP protocol without ports passes when the protocol is allowed, or allowed
/// to a CIDR holding its source.
#[inline(always)]
fn new_protocol(generation: u8, packet: &Packet) -> Verdict {
    let protocol = packet.ip_proto;
    let flags = FWXDP_PROTOCOLS
        .get(protocol_index(generation, protocol))
        .copied()
        .unwrap_or(0);
    if flags & PROTOCOL_ALLOW != 0 {
        return Verdict::because(Reason::Allowed);
    }
    if flags & PROTOCOL_CIDR != 0
        && source_listed(generation, CIDR_IP_PROTOCOL, u16::from(protocol), packet)
    {
        return Verdict::because(Reason::AllowedCidr);
    }
    Verdict {
        reason: Reason::Protocol,
        port: None,
        protocol: Some(protocol),
    }
}

/// Whether the trie lists a network holding the packet's source for (`proto`, `port`).
#[inline(always)]
fn source_listed(generation: u8, proto: u8, port: u16, packet: &Packet) -> bool {
    let addr_bits = if packet.family == FAMILY_V4 { 32 } else { 128 };
    let key = Key::new(
        CIDR_KEY_FIXED_BITS + addr_bits,
        CidrKey {
            generation,
            proto,
            family: packet.family,
            _pad: 0,
            port_be: port.to_be(),
            addr: packet.src(),
        },
    );
    FWXDP_CIDRS.get(&key).is_some()
}
