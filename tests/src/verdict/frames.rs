//! The addresses and frames most verdict tests use, and frames in hexadecimal for their
//! failure messages.

use std::{
    fmt::Write as _,
    net::{Ipv4Addr, Ipv6Addr},
};

use crate::packet::{
    FrameBuilder, IPPROTO_AH, IPPROTO_DSTOPTS, IPPROTO_FRAGMENT, IPPROTO_HOPOPTS, IPPROTO_ROUTING,
    SYN,
};

/// The remote IPv4 address most test frames come from.
pub const REMOTE4: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 10);
/// The local IPv4 address most test frames go to.
pub const LOCAL4: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);
/// Outside `2001:db8::/32`, which the policy admits on port 22.
pub const REMOTE6: Ipv6Addr = Ipv6Addr::new(0x3fff, 0, 0, 0, 0, 0, 0, 0x10);
/// The local IPv6 address most test frames go to.
pub const LOCAL6: Ipv6Addr = Ipv6Addr::new(0x3fff, 1, 0, 0, 0, 0, 0, 1);
/// The source port of most test frames, an ephemeral port.
pub const EPHEMERAL: u16 = 40_000;

/// `frame` in hexadecimal, for failure messages.
#[must_use]
pub fn hex(frame: &[u8]) -> String {
    frame.iter().fold(String::new(), |mut out, b| {
        let _: std::fmt::Result = write!(out, "{b:02x}");
        out
    })
}

/// A SYN from `src` to `dst_port` of [`LOCAL4`].
pub fn syn4(src: Ipv4Addr, dst_port: u16) -> FrameBuilder {
    FrameBuilder::tcp_v4(src, LOCAL4, EPHEMERAL, dst_port, SYN)
}

/// A SYN from `src` to `dst_port` of [`LOCAL6`].
pub fn syn6(src: Ipv6Addr, dst_port: u16) -> FrameBuilder {
    FrameBuilder::tcp_v6(src, LOCAL6, EPHEMERAL, dst_port, SYN)
}

/// A UDP datagram from `src` to `dst_port` of [`LOCAL4`].
pub fn udp4(src: Ipv4Addr, dst_port: u16) -> FrameBuilder {
    FrameBuilder::udp_v4(src, LOCAL4, EPHEMERAL, dst_port, b"datagram")
}

/// A UDP datagram from `src` to `dst_port` of [`LOCAL6`].
pub fn udp6(src: Ipv6Addr, dst_port: u16) -> FrameBuilder {
    FrameBuilder::udp_v6(src, LOCAL6, EPHEMERAL, dst_port, b"datagram")
}

/// Hop-by-hop options, in [`with_chain`] lists.
pub const HBH: u8 = IPPROTO_HOPOPTS;
/// Routing header, in [`with_chain`] lists.
pub const RT: u8 = IPPROTO_ROUTING;
/// Destination options, in [`with_chain`] lists.
pub const DST: u8 = IPPROTO_DSTOPTS;
/// Authentication header, in [`with_chain`] lists.
pub const AH: u8 = IPPROTO_AH;
/// Fragment header, in [`with_chain`] lists.
pub const FRAG: u8 = IPPROTO_FRAGMENT;

/// Extension header chains as (kind, length) lists; a fragment header is (FRAG, 8).
pub fn with_chain(builder: FrameBuilder, chain: &[(u8, usize)]) -> FrameBuilder {
    chain.iter().fold(builder, |b, &(kind, len)| match kind {
        FRAG => b.ipv6_fragment(0, true),
        _ => b.ipv6_ext(kind, len),
    })
}
