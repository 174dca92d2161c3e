//! A reference model of the verdict (`../shared/DESIGN.md`, "The verdict"), in plain Rust
//! on byte slices: what the BPF program must decide for one inbound frame, given the allow
//! items, the flows the host started and the ports it listens on. It shares no code with
//! the program, nor with the policy's compilation into maps: rules are evaluated one by one
//! from the parsed items. `fwxdp-fuzz` runs both on the same frames and reports every
//! disagreement.

mod parse;
mod tunnel;

use std::{collections::BTreeSet, net::IpAddr};

use fwxdp::policy::spec::{self, AllowItem};
use fwxdp_common::{Proto, Reason};

use parse::{Ip, Parsed, Transport, ipv4, ipv6, parse};

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
        self.judge_parsed(frame, parsed, false)
    }

    /// The verdict on a parsed packet; `carried` when it came inside a tunnel packet. A
    /// tunnel packet (IP-in-IP, GRE) that passes is judged by what it carries, as if that had
    /// arrived by itself; one level is looked into, so a tunnel inside one is dropped.
    fn judge_parsed(&self, frame: &[u8], parsed: Parsed, carried: bool) -> Decision {
        let packet = match parsed {
            Parsed::NonIp => return Decision::because(Reason::Other),
            Parsed::Malformed => return Decision::because(Reason::Malformed),
            Parsed::Ip(packet) => packet,
        };
        if is_loopback(packet.src) || is_loopback(packet.dst) {
            return Decision::because(Reason::Loopback);
        }
        let decision = self.judge_ip(&packet, carried);
        match packet.transport {
            Transport::Protocol(number) if tunnel::is_tunnel(number) && !decision.drop => {
                let inner = tunnel::carried(frame, number, packet.payload);
                self.judge_parsed(frame, inner, true)
            }
            _ => decision,
        }
    }

    fn judge_ip(&self, packet: &Ip, carried: bool) -> Decision {
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
                if verdict.drop && self.is_reply(proto.ip_protocol(), packet, (src_port, dst_port))
                {
                    Decision::because(Reason::Established)
                } else {
                    verdict
                }
            }
            Transport::Protocol(number) if carried && tunnel::is_tunnel(number) => Decision {
                drop: true,
                reason: Reason::Protocol,
                port: None,
                protocol: Some(number),
            },
            Transport::Protocol(number) => {
                if self.protocol_open(number) {
                    Decision::because(Reason::Allowed)
                } else if self.protocol_open_to(number, packet.src) {
                    Decision::because(Reason::AllowedCidr)
                } else if self.is_reply(number, packet, (0, 0)) {
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
