//! The IPv6 layer: IPv6 frames, the extension headers in front of the transport, and the
//! IPv6 header.

use std::net::Ipv6Addr;

use super::{
    DEFAULT_SRC_MAC, FrameBuilder, ICMPV6_NEIGHBOUR_SOLICITATION, IPPROTO_AH, IPPROTO_DSTOPTS,
    IPPROTO_FRAGMENT, IPPROTO_HOPOPTS, IPPROTO_ROUTING, Network, extension::Extension,
    transport::Transport,
};

const IPV6_HLEN: usize = 40;

impl FrameBuilder {
    fn v6(src: Ipv6Addr, dst: Ipv6Addr, transport: Transport) -> Self {
        let network = Network::V6 {
            src,
            dst,
            extensions: Vec::new(),
        };
        Self::new(network, transport)
    }

    /// A TCP segment over IPv6 with the given flags and no payload.
    pub fn tcp_v6(src: Ipv6Addr, dst: Ipv6Addr, src_port: u16, dst_port: u16, flags: u8) -> Self {
        Self::v6(src, dst, Self::tcp(src_port, dst_port, flags))
    }

    /// A UDP datagram over IPv6.
    pub fn udp_v6(
        src: Ipv6Addr,
        dst: Ipv6Addr,
        src_port: u16,
        dst_port: u16,
        payload: &[u8],
    ) -> Self {
        Self::v6(src, dst, Transport::Udp { src_port, dst_port }).payload(payload)
    }

    /// An `ICMPv6` message; its 4 rest-of-header bytes are zero, its body is the payload.
    pub fn icmp_v6(src: Ipv6Addr, dst: Ipv6Addr, icmp_type: u8, code: u8) -> Self {
        let transport = Transport::Icmp {
            icmp_type,
            code,
            rest: [0; 4],
        };
        Self::v6(src, dst, transport)
    }

    /// A neighbour solicitation from `src` for `target`, sent to the target's solicited-node
    /// multicast address with hop limit 255, as neighbour discovery requires.
    pub fn neighbour_solicitation(src: Ipv6Addr, target: Ipv6Addr) -> Self {
        let group = solicited_node(target);
        let g = group.octets();
        Self::icmp_v6(src, group, ICMPV6_NEIGHBOUR_SOLICITATION, 0)
            .payload(&target.octets())
            .ttl(255)
            .macs(DEFAULT_SRC_MAC, [0x33, 0x33, g[12], g[13], g[14], g[15]])
    }

    /// Any other IPv6 upper-layer protocol; the payload is its whole content.
    pub fn raw_v6(src: Ipv6Addr, dst: Ipv6Addr, protocol: u8) -> Self {
        Self::v6(src, dst, Transport::Raw { protocol })
    }

    /// Appends an IPv6 extension header of `len_bytes` bytes in all: hop-by-hop
    /// ([`IPPROTO_HOPOPTS`]), routing ([`IPPROTO_ROUTING`]) or destination options
    /// ([`IPPROTO_DSTOPTS`]), a multiple of 8 from 8 to 2048; or AH ([`IPPROTO_AH`]), a
    /// multiple of 4 from 12 to 1028. Headers follow each other in call order.
    ///
    /// # Panics
    ///
    /// If the frame is not IPv6, or the kind or length is not one of the above.
    pub fn ipv6_ext(mut self, next_header_kind: u8, len_bytes: usize) -> Self {
        let Network::V6 { extensions, .. } = &mut self.network else {
            panic!("an IPv6 extension header on a frame that is not IPv6");
        };
        match next_header_kind {
            IPPROTO_HOPOPTS | IPPROTO_ROUTING | IPPROTO_DSTOPTS => assert!(
                len_bytes.is_multiple_of(8) && (8..=2048).contains(&len_bytes),
                "extension header {next_header_kind} of {len_bytes} bytes: the length must \
                 be a multiple of 8 from 8 to 2048"
            ),
            IPPROTO_AH => assert!(
                len_bytes.is_multiple_of(4) && (12..=1028).contains(&len_bytes),
                "AH of {len_bytes} bytes: the length must be a multiple of 4 from 12 to 1028"
            ),
            IPPROTO_FRAGMENT => panic!("use ipv6_fragment for a fragment header"),
            other => panic!("{other} is not an IPv6 extension header this builder writes"),
        }
        extensions.push(Extension::Sized {
            kind: next_header_kind,
            len: len_bytes,
        });
        self
    }

    /// Appends an IPv6 fragment header at `offset_units` × 8 bytes, with the M flag as given.
    ///
    /// # Panics
    ///
    /// If the frame is not IPv6 or the offset does not fit in 13 bits.
    pub fn ipv6_fragment(mut self, offset_units: u16, more: bool) -> Self {
        let Network::V6 { extensions, .. } = &mut self.network else {
            panic!("an IPv6 fragment header on a frame that is not IPv6");
        };
        assert!(
            offset_units < 1 << 13,
            "fragment offset {offset_units} too large"
        );
        extensions.push(Extension::Fragment {
            offset: offset_units,
            more,
        });
        self
    }

    pub(super) fn ipv6_header(
        &self,
        src: Ipv6Addr,
        dst: Ipv6Addr,
        extensions: &[Extension],
        chain: &[u8],
        transport: &[u8],
    ) -> Vec<u8> {
        let payload_len = u16::try_from(chain.len() + transport.len())
            .expect("IPv6 payload longer than 65535 bytes");
        let next = extensions
            .first()
            .map_or_else(|| self.protocol(), Extension::kind);
        let mut header = Vec::with_capacity(IPV6_HLEN);
        header.extend_from_slice(&[0x60, 0, 0, 0]);
        header.extend_from_slice(&payload_len.to_be_bytes());
        header.extend_from_slice(&[next, self.ttl]);
        header.extend_from_slice(&src.octets());
        header.extend_from_slice(&dst.octets());
        header
    }

    /// The extension headers, each naming the one after it (the last names the transport).
    pub(super) fn ipv6_chain(&self, extensions: &[Extension]) -> Vec<u8> {
        let mut chain = Vec::new();
        for (i, extension) in extensions.iter().enumerate() {
            let next = extensions
                .get(i + 1)
                .map_or_else(|| self.protocol(), Extension::kind);
            chain.extend_from_slice(&extension.bytes(next));
        }
        chain
    }
}

/// The solicited-node multicast group of `addr` (`ff02::1:ffXX:XXXX`).
#[must_use]
pub fn solicited_node(addr: Ipv6Addr) -> Ipv6Addr {
    let o = addr.octets();
    Ipv6Addr::from([
        0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0xff, o[13], o[14], o[15],
    ])
}
