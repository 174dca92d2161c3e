//! What an IP tunnel packet carries, as Linux decapsulates it: IPv4 or IPv6 in IP, and GRE
//! (version 0, no routing) carrying IPv4, IPv6, WCCP or an Ethernet frame. Every header of
//! the carried packet must lie within the tunnel packet's payload.

use super::parse::{Parsed, Transport, be16, ethernet, ipv4, ipv6};

/// The furthest into a frame a carried packet is looked for.
const MAX_OFFSET: usize = 4096;

/// Whether IP protocol `number` carries IP packets Linux may deliver to the host.
pub(super) const fn is_tunnel(number: u8) -> bool {
    matches!(number, 4 | 41 | 47)
}

/// What the tunnel packet of protocol `number` in `frame`, its payload at `payload`,
/// carries. GRE of kinds no IP tunnel device delivers (MPLS, PPTP...) is [`Parsed::NonIp`].
pub(super) fn carried(frame: &[u8], number: u8, payload: (usize, usize)) -> Parsed {
    let (start, end) = payload;
    if start > MAX_OFFSET || end > MAX_OFFSET + usize::from(u16::MAX) {
        return Parsed::Malformed;
    }
    let (ether_type, at) = match number {
        4 => (0x0800, start),
        41 => (0x86dd, start),
        _ => match gre(frame, start) {
            Gre::Frame(ether_type, at) => (ether_type, at),
            Gre::Malformed => return Parsed::Malformed,
            Gre::Other => return Parsed::NonIp,
        },
    };
    // Not IP: no packet to look for, however deep (the program decides that first too).
    if ether_type != 0x0800 && ether_type != 0x86dd {
        return Parsed::NonIp;
    }
    if at > MAX_OFFSET {
        return Parsed::Malformed;
    }
    let parsed = if ether_type == 0x0800 {
        ipv4(frame, at)
    } else {
        ipv6(frame, at)
    };
    match parsed {
        // Its fixed IP header (with IPv4's options) past the payload: malformed before
        // anything is judged. Later headers past it hide the transport, judged after the
        // source.
        Parsed::Ip(ip) if ip.start + fixed_header(frame, ip.start) > end => Parsed::Malformed,
        Parsed::Ip(mut ip) if ip.end > end => {
            ip.transport = Transport::Hidden;
            Parsed::Ip(ip)
        }
        other => other,
    }
}

/// The length of the fixed IP header at `at` in `frame`, options included; the parse
/// checked that it is there.
fn fixed_header(frame: &[u8], at: usize) -> usize {
    if frame[at] >> 4 == 4 {
        usize::from(frame[at] & 0x0f) * 4
    } else {
        40
    }
}

enum Gre {
    /// A frame of this `EtherType` at this offset.
    Frame(u16, usize),
    Malformed,
    Other,
}

fn gre(frame: &[u8], at: usize) -> Gre {
    let (Some(flags), Some(protocol)) = (be16(frame, at), be16(frame, at + 2)) else {
        return Gre::Malformed;
    };
    if flags & 0x4007 != 0 {
        return Gre::Other;
    }
    let options = [0x8000, 0x2000, 0x1000]
        .iter()
        .filter(|&&flag| flags & flag != 0)
        .count();
    let at = at + 4 + 4 * options;
    if frame.len() < at {
        return Gre::Malformed;
    }
    match protocol {
        0x0800 | 0x86dd => Gre::Frame(protocol, at),
        0x883e if flags == 0 => {
            // WCCP: IPv4 here, or behind a 4-byte redirect header. The program reads two
            // bytes to see which.
            match frame.get(at..at + 2) {
                Some(b) if b[0] >> 4 == 4 => Gre::Frame(0x0800, at),
                Some(_) if frame.len() >= at + 4 => Gre::Frame(0x0800, at + 4),
                _ => Gre::Malformed,
            }
        }
        0x6558 => match ethernet(frame, at, 0) {
            Some((ether_type, at)) => Gre::Frame(ether_type, at),
            None => Gre::Malformed,
        },
        _ => Gre::Other,
    }
}
