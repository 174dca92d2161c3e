//! The model's own parse of a frame, header by header, down to what the verdict depends on:
//! the addresses and the transport (ports and TCP flags, or the IP protocol).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use fwxdp_common::Proto;

pub(super) enum Parsed {
    NonIp,
    Malformed,
    Ip(Ip),
}

pub(super) struct Ip {
    pub(super) src: IpAddr,
    pub(super) dst: IpAddr,
    pub(super) transport: Transport,
    /// Where the IP header starts, and where the headers read end, as offsets into the frame.
    pub(super) start: usize,
    pub(super) end: usize,
    /// For [`Transport::Protocol`]: where the payload starts and ends by the IP lengths.
    pub(super) payload: (usize, usize),
}

pub(super) enum Transport {
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

pub(super) fn parse(frame: &[u8], outer_tags: usize) -> Parsed {
    match ethernet(frame, 0, outer_tags) {
        None => Parsed::Malformed,
        Some((0x0800, at)) => ipv4(frame, at),
        Some((0x86dd, at)) => ipv6(frame, at),
        Some(_) => Parsed::NonIp,
    }
}

/// The `EtherType` after the Ethernet header at `at` and its VLAN tags, and where they end.
pub(super) fn ethernet(frame: &[u8], at: usize, outer_tags: usize) -> Option<(u16, usize)> {
    let mut ether_type = be16(frame, at + 12)?;
    let mut at = at + 14;
    let mut tags = outer_tags;
    while matches!(ether_type, 0x8100 | 0x88a8) {
        if tags == VLAN_MAX_DEPTH {
            return None;
        }
        ether_type = be16(frame, at + 2)?;
        at += 4;
        tags += 1;
    }
    Some((ether_type, at))
}

pub(super) fn ipv4(frame: &[u8], at: usize) -> Parsed {
    let start = at;
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
    let (transport, end, payload) = if offset != 0 {
        (Transport::LaterFragment, at + header_len, (0, 0))
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
                None => (Transport::Hidden, at, (0, 0)),
            }
        } else {
            transport(frame, at, protocol, remaining, true)
        }
    };
    Parsed::Ip(Ip {
        src,
        dst,
        transport,
        start,
        end,
        payload,
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

pub(super) fn ipv6(frame: &[u8], at: usize) -> Parsed {
    let start = at;
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
                    at += 8;
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
    let (transport, end, payload) = match transport {
        Some(transport) => (transport, at, (0, 0)),
        None if matches!(next, 0 | 43 | 44 | 60 | 51) => (Transport::Hidden, at, (0, 0)),
        None => self::transport(frame, at, next, remaining, false),
    };
    Parsed::Ip(Ip {
        src,
        dst,
        transport,
        start,
        end,
        payload,
    })
}

/// The transport header of `protocol` at `at`, which the IP length fields leave `remaining`
/// bytes for; where the headers read end; where a protocol's payload lies.
fn transport(
    frame: &[u8],
    at: usize,
    protocol: u8,
    remaining: usize,
    v4: bool,
) -> (Transport, usize, (usize, usize)) {
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
    let read = |transport: Transport, len: usize| (transport, at + len, (0, 0));
    match protocol {
        1 | 2 if v4 => read(Transport::Unjudged, 0),
        58 if !v4 => read(Transport::Unjudged, 0),
        6 => header(20).map_or(read(Transport::Hidden, 0), |h| {
            let (_, dst_port) = ports(h);
            read(
                Transport::Tcp {
                    dst_port,
                    syn: h[13] & 0x02 != 0,
                    ack: h[13] & 0x10 != 0,
                },
                20,
            )
        }),
        _ => match Proto::from_ip_protocol(protocol) {
            Some(proto) => {
                let len = if matches!(proto, Proto::Sctp | Proto::Dccp) {
                    12
                } else {
                    8
                };
                header(len).map_or(read(Transport::Hidden, 0), |h| {
                    let (src_port, dst_port) = ports(h);
                    read(
                        Transport::Datagram {
                            proto,
                            src_port,
                            dst_port,
                        },
                        len,
                    )
                })
            }
            None => (Transport::Protocol(protocol), at, (at, at + remaining)),
        },
    }
}

pub(super) fn be16(frame: &[u8], at: usize) -> Option<u16> {
    frame
        .get(at..at + 2)
        .map(|b| u16::from_be_bytes([b[0], b[1]]))
}
