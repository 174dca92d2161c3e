//! The IPv4 and IPv6 headers, IPv4 options, AH and the IPv6 extension-header chain.

use fwxdp_common::{FAMILY_V4, FAMILY_V6};
use network_types::ip::{Ipv4Hdr, Ipv6Hdr};

use super::{Cursor, IPV6_EXT_MAX_CHAIN, Kind, Packet, Transport, transport::transport};

const IPPROTO_HOPOPTS: u8 = 0;
const IPPROTO_ROUTING: u8 = 43;
const IPPROTO_FRAGMENT: u8 = 44;
const IPPROTO_AH: u8 = 51;
const IPPROTO_DSTOPTS: u8 = 60;

/// An IPv4 AH header is at least its fixed part (12 bytes).
const AH_MIN_LEN: usize = 12;

#[inline(always)]
pub(super) fn ipv4(c: &mut Cursor, packet: &mut Packet) -> Kind {
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
    packet.later_fragment = ip.frag_offset() != 0;
    packet.next = ip.proto;
    packet.ip_proto = ip.proto;
    packet.remaining = total_len - header_len;
    Kind::Ip
}

/// What follows an IPv4 header: nothing of interest in a later fragment, else AH or the
/// transport header.
#[inline(always)]
pub(super) fn ipv4_upper(c: &mut Cursor, packet: &mut Packet) {
    if packet.later_fragment {
        packet.transport = Transport::LaterFragment;
        return;
    }
    let remaining = packet.remaining;
    if packet.next == IPPROTO_AH {
        // AH authenticates the transport header behind it, which is judged like any other.
        match authentication_header(c, remaining) {
            Some((next, remaining)) => transport(c, next, remaining, packet),
            None => packet.transport = Transport::Hidden,
        }
    } else {
        transport(c, packet.next, remaining, packet);
    }
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
pub(super) fn ipv6(c: &mut Cursor, packet: &mut Packet) -> Kind {
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
    packet.next = ip.next_hdr;
    packet.ip_proto = ip.next_hdr;
    packet.remaining = usize::from(u16::from_be_bytes(ip.payload_len));
    Kind::Ip
}

/// What follows an IPv6 header: the extension-header chain, then the transport header.
#[inline(always)]
pub(super) fn ipv6_upper(c: &mut Cursor, packet: &mut Packet) {
    match extension_headers(c, packet.next, packet.remaining) {
        Chain::Transport { next, remaining } => transport(c, next, remaining, packet),
        Chain::LaterFragment => packet.transport = Transport::LaterFragment,
        Chain::Hidden => packet.transport = Transport::Hidden,
    }
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
