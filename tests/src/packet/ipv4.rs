//! The IPv4 layer: IPv4 frames, their options and fragment fields, and the IPv4 header.

use std::net::Ipv4Addr;

use super::{FrameBuilder, Network, checksum, transport::Transport};

const IPV4_HLEN: usize = 20;
const IPV4_MAX_OPTIONS: usize = 40;

impl FrameBuilder {
    fn v4(src: Ipv4Addr, dst: Ipv4Addr, transport: Transport) -> Self {
        let network = Network::V4 {
            src,
            dst,
            options: Vec::new(),
            fragment: None,
            id: 0,
        };
        Self::new(network, transport)
    }

    /// A TCP segment over IPv4 with the given flags ([`SYN`](super::SYN),
    /// [`ACK`](super::ACK)...) and no payload.
    pub fn tcp_v4(src: Ipv4Addr, dst: Ipv4Addr, src_port: u16, dst_port: u16, flags: u8) -> Self {
        Self::v4(src, dst, Self::tcp(src_port, dst_port, flags))
    }

    /// A UDP datagram over IPv4.
    pub fn udp_v4(
        src: Ipv4Addr,
        dst: Ipv4Addr,
        src_port: u16,
        dst_port: u16,
        payload: &[u8],
    ) -> Self {
        Self::v4(src, dst, Transport::Udp { src_port, dst_port }).payload(payload)
    }

    /// An ICMP message; its 4 rest-of-header bytes are zero (see
    /// [`icmp_rest`](Self::icmp_rest)), its body is the payload.
    pub fn icmp_v4(src: Ipv4Addr, dst: Ipv4Addr, icmp_type: u8, code: u8) -> Self {
        let transport = Transport::Icmp {
            icmp_type,
            code,
            rest: [0; 4],
        };
        Self::v4(src, dst, transport)
    }

    /// Any other IPv4 protocol; the payload is its whole content.
    pub fn raw_v4(src: Ipv4Addr, dst: Ipv4Addr, protocol: u8) -> Self {
        Self::v4(src, dst, Transport::Raw { protocol })
    }

    /// Appends the IPv4 options `bytes`, padded with end-of-options bytes to a multiple of 4.
    ///
    /// # Panics
    ///
    /// If the frame is not IPv4 or the options exceed 40 bytes.
    pub fn ipv4_options(mut self, bytes: &[u8]) -> Self {
        let Network::V4 { options, .. } = &mut self.network else {
            panic!("IPv4 options on a frame that is not IPv4");
        };
        options.extend_from_slice(bytes);
        options.resize(options.len().next_multiple_of(4), 0);
        assert!(
            options.len() <= IPV4_MAX_OPTIONS,
            "{} bytes of IPv4 options: at most {IPV4_MAX_OPTIONS} fit",
            options.len()
        );
        self
    }

    /// Makes the IPv4 datagram a fragment at `offset_units` × 8 bytes, with the more-fragments
    /// flag as given. Unfragmented datagrams carry the don't-fragment flag instead.
    ///
    /// # Panics
    ///
    /// If the frame is not IPv4 or the offset does not fit in 13 bits.
    pub fn ipv4_fragment(mut self, offset_units: u16, more_fragments: bool) -> Self {
        let Network::V4 { fragment, .. } = &mut self.network else {
            panic!("an IPv4 fragment on a frame that is not IPv4");
        };
        assert!(
            offset_units < 1 << 13,
            "fragment offset {offset_units} too large"
        );
        *fragment = Some((offset_units, more_fragments));
        self
    }

    /// Sets the IPv4 identification (0 by default).
    ///
    /// # Panics
    ///
    /// If the frame is not IPv4.
    pub fn ipv4_id(mut self, value: u16) -> Self {
        let Network::V4 { id, .. } = &mut self.network else {
            panic!("an IPv4 id on a frame that is not IPv4");
        };
        *id = value;
        self
    }

    pub(super) fn ipv4_header(
        &self,
        src: Ipv4Addr,
        dst: Ipv4Addr,
        options: &[u8],
        fragment: Option<(u16, bool)>,
        id: u16,
        transport: &[u8],
    ) -> Vec<u8> {
        let header_len = IPV4_HLEN + options.len();
        let total = u16::try_from(header_len + transport.len())
            .expect("IPv4 datagram longer than 65535 bytes");
        let frag = match fragment {
            Some((offset, more)) => offset | if more { 0x2000 } else { 0 },
            None => 0x4000, // don't fragment
        };
        let ihl = u8::try_from(header_len / 4).expect("IPv4 header length fits in 4 bits");
        let mut header = Vec::with_capacity(header_len);
        header.extend_from_slice(&[0x40 | ihl, 0]);
        header.extend_from_slice(&total.to_be_bytes());
        header.extend_from_slice(&id.to_be_bytes());
        header.extend_from_slice(&frag.to_be_bytes());
        header.extend_from_slice(&[self.ttl, self.protocol(), 0, 0]);
        header.extend_from_slice(&src.octets());
        header.extend_from_slice(&dst.octets());
        header.extend_from_slice(options);
        let sum = checksum(&header);
        header[10..12].copy_from_slice(&sum.to_be_bytes());
        header
    }
}
