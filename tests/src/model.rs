//! A reference model of the verdict (`../shared/DESIGN.md`, "The verdict"), in plain Rust
//! on byte slices: what the BPF program must decide for one inbound frame, given the allow
//! items, the flows the host started and the ports it listens on. It shares no code with
//! the program, nor with the policy's compilation into maps: rules are evaluated one by one
//! from the parsed items. `fwxdp-fuzz` runs both on the same frames and reports every
//! disagreement.

use std::{
    collections::BTreeSet,
    net::{IpAddr, Ipv4Addr, Ipv6Addr},
};

use fwxdp::policy::spec::{self, AllowItem};
use fwxdp_common::{Proto, Reason};

/// What the model decides.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decision {
    /// Dropped (before monitor mode, which passes everything).
    pub drop: bool,
    pub reason: Reason,
    /// The (proto, port) a `port` drop is charged to.
    pub port: Option<(Proto, u16)>,
    /// The IP protocol number a `protocol` drop is charged to.
    pub protocol: Option<u8>,
}

impl Decision {
    const fn because(reason: Reason) -> Self {
        Self {
            drop: reason.is_drop(),
            reason,
            port: None,
            protocol: None,
        }
    }
}

/// A flow the host started, from its side: protocol, local and remote address and port
/// (ports 0 for protocols without them).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Flow {
    pub protocol: u8,
    pub local: IpAddr,
    pub remote: IpAddr,
    pub local_port: u16,
    pub remote_port: u16,
}

/// Everything the verdict depends on besides the frame.
#[derive(Clone, Debug, Default)]
pub struct World {
    /// The allow items in force.
    pub items: Vec<AllowItem>,
    /// Flows the host started (recent, so their replies pass).
    pub flows: BTreeSet<Flow>,
    /// TCP ports with a listener on every address, and no connection the frames could hit.
    pub listeners: BTreeSet<u16>,
    /// The device has no link layer: frames start at the IP header.
    pub ip_frames: bool,
}

impl World {
    /// A world with the allow `list`.
    ///
    /// # Panics
    /// When the list is invalid.
    #[must_use]
    pub fn new(list: &str) -> Self {
        Self {
            items: spec::parse_list(list).unwrap_or_else(|e| panic!("bad list {list:?}: {e:?}")),
            ..Self::default()
        }
    }

    /// Whether a rule opens (`proto`, `port`) to everyone.
    fn open(&self, proto: Proto, port: u16) -> bool {
        self.items.iter().any(|item| match item {
            AllowItem::Ports(rule) => {
                rule.source.is_none()
                    && (rule.first..=rule.last).contains(&port)
                    && rule.protos().any(|p| p == proto)
            }
            AllowItem::Protocol(_) => false,
        })
    }

    /// Whether a rule opens (`proto`, `port`) to `source` (the address as on the wire).
    fn open_to(&self, proto: Proto, port: u16, source: IpAddr) -> bool {
        self.items.iter().any(|item| match item {
            AllowItem::Ports(rule) => rule.source.is_some_and(|net| {
                net.contains(&source)
                    && (rule.first..=rule.last).contains(&port)
                    && rule.protos().any(|p| p == proto)
            }),
            AllowItem::Protocol(_) => false,
        })
    }

    fn protocol_open(&self, number: u8) -> bool {
        self.items.iter().any(|item| {
            matches!(item, AllowItem::Protocol(rule) if rule.number == number && rule.source.is_none())
        })
    }

    fn protocol_open_to(&self, number: u8, source: IpAddr) -> bool {
        self.items.iter().any(|item| {
            matches!(item, AllowItem::Protocol(rule)
                if rule.number == number && rule.source.is_some_and(|net| net.contains(&source)))
        })
    }

    fn is_reply(&self, protocol: u8, packet: &Ip, ports: (u16, u16)) -> bool {
        self.flows.contains(&Flow {
            protocol,
            local: packet.dst,
            remote: packet.src,
            local_port: ports.1,
            remote_port: ports.0,
        })
    }

    /// The verdict on `frame`, an Ethernet frame arriving on an attached interface (with
    /// `outer_tags` VLAN tags already taken off by the kernel).
    #[must_use]
    pub fn judge(&self, frame: &[u8], outer_tags: usize) -> Decision {
        let parsed = if self.ip_frames {
            match frame.first().map(|b| b >> 4) {
                _ if frame.len() < 2 => Parsed::Malformed,
                Some(4) => ipv4(frame, 0),
                Some(6) => ipv6(frame, 0),
                _ => Parsed::Malformed,
            }
        } else {
            parse(frame, outer_tags)
        };
        let packet = match parsed {
            Parsed::NonIp => return Decision::because(Reason::Other),
            Parsed::Malformed => return Decision::because(Reason::Malformed),
            Parsed::Ip(packet) => packet,
        };
        if is_loopback(packet.src) || is_loopback(packet.dst) {
            return Decision::because(Reason::Loopback);
        }
        match packet.transport {
            Transport::Unjudged | Transport::LaterFragment => Decision::because(Reason::Other),
            Transport::Hidden => Decision::because(Reason::Malformed),
            Transport::Tcp { dst_port, syn, ack } => {
                let verdict = self.new_connection(Proto::Tcp, dst_port, packet.src);
                if syn && !ack {
                    verdict
                } else if verdict.drop && self.listeners.contains(&dst_port) {
                    // No SYN: part of a connection, unless only a listener would take it
                    // (a SYN cookie). The frames never hit a connection the host has.
                    verdict
                } else {
                    Decision::because(Reason::Established)
                }
            }
            Transport::Datagram {
                proto,
                src_port,
                dst_port,
            } => {
                let dhcp = match packet.src {
                    IpAddr::V4(_) => (67, 68),
                    IpAddr::V6(_) => (547, 546),
                };
                if proto == Proto::Udp && (src_port, dst_port) == dhcp {
                    return Decision::because(Reason::Established);
                }
                let verdict = self.new_connection(proto, dst_port, packet.src);
                if verdict.drop && self.is_reply(proto.ip_protocol(), &packet, (src_port, dst_port))
                {
                    Decision::because(Reason::Established)
                } else {
                    verdict
                }
            }
            Transport::Protocol(number) => {
                if self.protocol_open(number) {
                    Decision::because(Reason::Allowed)
                } else if self.protocol_open_to(number, packet.src) {
                    Decision::because(Reason::AllowedCidr)
                } else if self.is_reply(number, &packet, (0, 0)) {
                    Decision::because(Reason::Established)
                } else {
                    Decision {
                        drop: true,
                        reason: Reason::Protocol,
                        port: None,
                        protocol: Some(number),
                    }
                }
            }
        }
    }

    fn new_connection(&self, proto: Proto, port: u16, source: IpAddr) -> Decision {
        if self.open(proto, port) {
            Decision::because(Reason::Allowed)
        } else if self.open_to(proto, port, source) {
            Decision::because(Reason::AllowedCidr)
        } else {
            Decision {
                drop: true,
                reason: Reason::Port,
                port: Some((proto, port)),
                protocol: None,
            }
        }
    }
}

/// 127.0.0.0/8, `::1`, `::ffff:127.0.0.0/104`.
fn is_loopback(addr: IpAddr) -> bool {
    match addr {
        IpAddr::V4(v4) => v4.octets()[0] == 127,
        IpAddr::V6(v6) => {
            v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.octets()[0] == 127)
        }
    }
}

enum Parsed {
    NonIp,
    Malformed,
    Ip(Ip),
}

struct Ip {
    src: IpAddr,
    dst: IpAddr,
    transport: Transport,
}

enum Transport {
    Tcp {
        dst_port: u16,
        syn: bool,
        ack: bool,
    },
    Datagram {
        proto: Proto,
        src_port: u16,
        dst_port: u16,
    },
    /// ICMP, `ICMPv6`, IGMP.
    Unjudged,
    Protocol(u8),
    LaterFragment,
    /// A transport header cut short, or a header chain longer than the walk.
    Hidden,
}

const VLAN_MAX_DEPTH: usize = 2;
const IPV6_EXT_MAX_CHAIN: usize = 8;

fn parse(frame: &[u8], outer_tags: usize) -> Parsed {
    let Some(mut ether_type) = be16(frame, 12) else {
        return Parsed::Malformed;
    };
    let mut at = 14;
    let mut tags = outer_tags;
    while matches!(ether_type, 0x8100 | 0x88a8) {
        if tags == VLAN_MAX_DEPTH {
            return Parsed::Malformed;
        }
        let Some(inner) = be16(frame, at + 2) else {
            return Parsed::Malformed;
        };
        ether_type = inner;
        at += 4;
        tags += 1;
    }
    match ether_type {
        0x0800 => ipv4(frame, at),
        0x86dd => ipv6(frame, at),
        _ => Parsed::NonIp,
    }
}

fn ipv4(frame: &[u8], at: usize) -> Parsed {
    let Some(h) = frame.get(at..at + 20) else {
        return Parsed::Malformed;
    };
    let header_len = usize::from(h[0] & 0x0f) * 4;
    let total_len = usize::from(u16::from_be_bytes([h[2], h[3]]));
    if h[0] >> 4 != 4 || header_len < 20 || total_len < header_len {
        return Parsed::Malformed;
    }
    if frame.len() < at + header_len {
        return Parsed::Malformed;
    }
    let src = IpAddr::V4(Ipv4Addr::new(h[12], h[13], h[14], h[15]));
    let dst = IpAddr::V4(Ipv4Addr::new(h[16], h[17], h[18], h[19]));
    let offset = u16::from_be_bytes([h[6], h[7]]) & 0x1fff;
    let transport = if offset != 0 {
        Transport::LaterFragment
    } else {
        let (mut protocol, mut at, mut remaining) = (h[9], at + header_len, total_len - header_len);
        if protocol == 51 {
            match authentication_header(frame, at, remaining) {
                Some((next, len)) => {
                    protocol = next;
                    at += len;
                    remaining -= len;
                    transport(frame, at, protocol, remaining, true)
                }
                None => Transport::Hidden,
            }
        } else {
            transport(frame, at, protocol, remaining, true)
        }
    };
    Parsed::Ip(Ip {
        src,
        dst,
        transport,
    })
}

/// An IPv4 AH header at `at`: the protocol after it and its length.
fn authentication_header(frame: &[u8], at: usize, remaining: usize) -> Option<(u8, usize)> {
    let h = frame.get(at..at + 2)?;
    let len = (usize::from(h[1]) + 2) * 4;
    if len < 12 || len > remaining || frame.len() < at + len {
        return None;
    }
    Some((h[0], len))
}

fn ipv6(frame: &[u8], at: usize) -> Parsed {
    let Some(h) = frame.get(at..at + 40) else {
        return Parsed::Malformed;
    };
    if h[0] >> 4 != 6 {
        return Parsed::Malformed;
    }
    let addr = |from: usize| {
        let mut octets = [0u8; 16];
        octets.copy_from_slice(&h[from..from + 16]);
        IpAddr::V6(Ipv6Addr::from(octets))
    };
    let (src, dst) = (addr(8), addr(24));
    let mut remaining = usize::from(u16::from_be_bytes([h[4], h[5]]));
    let mut next = h[6];
    let mut at = at + 40;
    let mut transport = None;
    for _ in 0..IPV6_EXT_MAX_CHAIN {
        match next {
            0 | 43 | 60 | 51 => {
                let Some(e) = frame.get(at..at + 2) else {
                    transport = Some(Transport::Hidden);
                    break;
                };
                let len = if next == 51 {
                    (usize::from(e[1]) + 2) * 4
                } else {
                    (usize::from(e[1]) + 1) * 8
                };
                if len > remaining || frame.len() < at + len {
                    transport = Some(Transport::Hidden);
                    break;
                }
                remaining -= len;
                next = e[0];
                at += len;
            }
            44 => {
                let Some(e) = frame.get(at..at + 8) else {
                    transport = Some(Transport::Hidden);
                    break;
                };
                if u16::from_be_bytes([e[2], e[3]]) & 0xfff8 != 0 {
                    transport = Some(Transport::LaterFragment);
                    break;
                }
                if remaining < 8 {
                    transport = Some(Transport::Hidden);
                    break;
                }
                remaining -= 8;
                next = e[0];
                at += 8;
            }
            _ => break,
        }
    }
    let transport = transport.unwrap_or_else(|| {
        if matches!(next, 0 | 43 | 44 | 60 | 51) {
            Transport::Hidden
        } else {
            self::transport(frame, at, next, remaining, false)
        }
    });
    Parsed::Ip(Ip {
        src,
        dst,
        transport,
    })
}

/// The transport header of `protocol` at `at`, which the IP length fields leave `remaining`
/// bytes for.
fn transport(frame: &[u8], at: usize, protocol: u8, remaining: usize, v4: bool) -> Transport {
    let header = |len: usize| {
        if remaining < len {
            None
        } else {
            frame.get(at..at + len)
        }
    };
    let ports = |h: &[u8]| {
        (
            u16::from_be_bytes([h[0], h[1]]),
            u16::from_be_bytes([h[2], h[3]]),
        )
    };
    match protocol {
        1 | 2 if v4 => Transport::Unjudged,
        58 if !v4 => Transport::Unjudged,
        6 => header(20).map_or(Transport::Hidden, |h| {
            let (_, dst_port) = ports(h);
            Transport::Tcp {
                dst_port,
                syn: h[13] & 0x02 != 0,
                ack: h[13] & 0x10 != 0,
            }
        }),
        _ => match Proto::from_ip_protocol(protocol) {
            Some(proto) => {
                let len = if matches!(proto, Proto::Sctp | Proto::Dccp) {
                    12
                } else {
                    8
                };
                header(len).map_or(Transport::Hidden, |h| {
                    let (src_port, dst_port) = ports(h);
                    Transport::Datagram {
                        proto,
                        src_port,
                        dst_port,
                    }
                })
            }
            None => Transport::Protocol(protocol),
        },
    }
}

fn be16(frame: &[u8], at: usize) -> Option<u16> {
    frame
        .get(at..at + 2)
        .map(|b| u16::from_be_bytes([b[0], b[1]]))
}
