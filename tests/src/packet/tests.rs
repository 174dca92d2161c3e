//! Unit tests of the frame builder: layouts, lengths and checksums checked byte by byte.

use super::*;
use super::{
    ethernet::BROADCAST_MAC,
    extension::{EXPERIMENTAL_OPTION, EXPERIMENTAL_ROUTING_TYPE},
};

const A4: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
const B4: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 2);
const A6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1);
const B6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 2);

fn be16(bytes: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([bytes[at], bytes[at + 1]])
}

/// Sums 16-bit words with a wide accumulator and folds once at the end: written apart
/// from [`checksum`] so the two check each other.
fn ones_complement_sum(parts: &[&[u8]]) -> u16 {
    let bytes: Vec<u8> = parts.concat();
    let mut sum: u64 = bytes
        .chunks(2)
        .map(|w| u64::from(w[0]) << 8 | u64::from(*w.get(1).unwrap_or(&0)))
        .sum();
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    u16::try_from(sum).unwrap()
}

fn v4_pseudo(frame: &Frame) -> Vec<u8> {
    let ip = &frame.bytes[frame.network_offset..];
    let len = u16::try_from(frame.bytes.len() - frame.transport_offset).unwrap();
    [&ip[12..20], &[0, ip[9]], &len.to_be_bytes()[..]].concat()
}

fn v6_pseudo(frame: &Frame, protocol: u8) -> Vec<u8> {
    let ip = &frame.bytes[frame.network_offset..];
    let len = u32::try_from(frame.bytes.len() - frame.transport_offset).unwrap();
    [&ip[8..40], &len.to_be_bytes()[..], &[0, 0, 0, protocol]].concat()
}

#[test]
fn rfc1071_example() {
    // RFC 1071 section 3: the sum of these words is 0xddf2.
    let data = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
    assert_eq!(checksum(&data), !0xddf2);
    assert_eq!(
        checksum(&[0xab]),
        !0xab00,
        "an odd byte is padded on the right"
    );
}

#[test]
fn known_ipv4_header_checksum() {
    // A widely quoted example: 192.168.0.1 -> 192.168.0.199, UDP, total length 0x73,
    // DF, TTL 64, id 0; its header checksum is 0xb861.
    let frame = FrameBuilder::udp_v4(
        Ipv4Addr::new(192, 168, 0, 1),
        Ipv4Addr::new(192, 168, 0, 199),
        1000,
        2000,
        &[0; 0x73 - 28],
    )
    .build_frame();
    let ip = &frame.bytes[ETH_HLEN..ETH_HLEN + 20];
    assert_eq!(
        ip,
        [
            0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0xb8, 0x61, 0xc0, 0xa8,
            0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7
        ]
    );
}

#[test]
fn known_udp_checksum() {
    // Computed independently (Python) from the pseudo-header: 192.0.2.1:1234 -> 198.51.100.2:53, "hi".
    let frame = FrameBuilder::udp_v4(A4, B4, 1234, 53, b"hi").build_frame();
    let udp = &frame.bytes[frame.transport_offset..];
    assert_eq!(be16(udp, 4), 10, "UDP length");
    assert_eq!(be16(udp, 6), 0xa632, "UDP checksum");
}

#[test]
fn tcp_v4_syn_layout_and_checksums() {
    let frame = FrameBuilder::tcp_v4(A4, B4, 40000, 3306, SYN)
        .payload(b"hello")
        .build_frame();
    let b = &frame.bytes;
    assert_eq!(b.len(), 14 + 20 + 20 + 5);
    assert_eq!(
        (
            frame.network_offset,
            frame.transport_offset,
            frame.payload_offset
        ),
        (14, 34, 54)
    );
    assert_eq!(&b[0..6], DEFAULT_DST_MAC);
    assert_eq!(&b[6..12], DEFAULT_SRC_MAC);
    assert_eq!(be16(b, 12), ETH_P_IPV4);
    assert_eq!(b[14], 0x45);
    assert_eq!(usize::from(be16(b, 16)), 20 + 20 + 5, "IPv4 total length");
    assert_eq!(b[23], IPPROTO_TCP);
    assert_eq!(checksum(&b[14..34]), 0, "IPv4 header checksum verifies");
    assert_eq!((be16(b, 34), be16(b, 36)), (40000, 3306));
    assert_eq!(b[46], 5 << 4, "data offset");
    assert_eq!(b[47], SYN);
    assert_eq!(&b[54..], b"hello");
    assert_eq!(
        ones_complement_sum(&[&v4_pseudo(&frame), &b[34..]]),
        0xffff,
        "TCP checksum verifies"
    );
}

#[test]
fn udp_and_icmp_v6_checksums() {
    let udp = FrameBuilder::udp_v6(A6, B6, 5353, 53, b"abc").build_frame();
    let b = &udp.bytes;
    assert_eq!(b.len(), 14 + 40 + 8 + 3);
    assert_eq!(be16(b, 12), ETH_P_IPV6);
    assert_eq!(b[14] >> 4, 6);
    assert_eq!(usize::from(be16(b, 18)), 8 + 3, "IPv6 payload length");
    assert_eq!(b[20], IPPROTO_UDP);
    assert_eq!(
        ones_complement_sum(&[&v6_pseudo(&udp, IPPROTO_UDP), &b[54..]]),
        0xffff
    );

    let ns = FrameBuilder::neighbour_solicitation(A6, B6).build_frame();
    let b = &ns.bytes;
    assert_eq!(&b[0..6], [0x33, 0x33, 0xff, 0, 0, 2]);
    assert_eq!(b[20], IPPROTO_ICMPV6);
    assert_eq!(b[21], 255, "hop limit");
    assert_eq!(&b[38..54], solicited_node(B6).octets());
    assert_eq!(b[54], ICMPV6_NEIGHBOUR_SOLICITATION);
    assert_eq!(&b[62..78], B6.octets(), "target");
    assert_eq!(
        ones_complement_sum(&[&v6_pseudo(&ns, IPPROTO_ICMPV6), &b[54..]]),
        0xffff
    );
}

#[test]
fn icmp_v4_checksum_has_no_pseudo_header() {
    let frame = FrameBuilder::icmp_v4(A4, B4, ICMP_ECHO_REQUEST, 0)
        .icmp_rest([0, 1, 0, 2])
        .payload(b"ping")
        .build_frame();
    assert_eq!(frame.bytes.len(), 14 + 20 + 8 + 4);
    assert_eq!(frame.bytes[23], IPPROTO_ICMP);
    assert_eq!(checksum(&frame.bytes[34..]), 0);
}

#[test]
fn vlan_tags_sit_between_macs_and_ether_type() {
    let b = FrameBuilder::tcp_v4(A4, B4, 1, 2, SYN)
        .vlan(TPID_8021AD, 100)
        .vlan(TPID_8021Q, 200)
        .build_frame();
    assert_eq!(b.network_offset, 14 + 8);
    let b = &b.bytes;
    assert_eq!(be16(b, 12), TPID_8021AD, "outer TPID");
    assert_eq!(be16(b, 14), 100, "outer VLAN id");
    assert_eq!(be16(b, 16), TPID_8021Q, "inner TPID");
    assert_eq!(be16(b, 18), 200, "inner VLAN id");
    assert_eq!(be16(b, 20), ETH_P_IPV4);
    assert_eq!(b[22], 0x45);
    assert_eq!(b.len(), 14 + 8 + 20 + 20);
}

#[test]
fn ipv4_options_are_padded_and_counted_in_ihl() {
    let frame = FrameBuilder::tcp_v4(A4, B4, 1, 2, SYN)
        .ipv4_options(&[1, 1, 1])
        .build_frame();
    let b = &frame.bytes;
    assert_eq!(b[14], 0x46, "IHL 6 words");
    assert_eq!(&b[34..38], [1, 1, 1, 0]);
    assert_eq!(frame.transport_offset, 38);
    assert_eq!(usize::from(be16(b, 16)), 24 + 20);
    assert_eq!(checksum(&b[14..38]), 0);

    let full = FrameBuilder::tcp_v4(A4, B4, 1, 2, SYN)
        .ipv4_options(&[1; 40])
        .build_frame();
    assert_eq!(full.bytes[14], 0x4f);
    assert_eq!(full.transport_offset, 14 + 60);
}

#[test]
#[should_panic(expected = "at most 40 fit")]
fn ipv4_options_beyond_40_bytes_panic() {
    let _: FrameBuilder = FrameBuilder::tcp_v4(A4, B4, 1, 2, SYN).ipv4_options(&[1; 41]);
}

#[test]
fn ipv4_fragment_fields() {
    let first = FrameBuilder::tcp_v4(A4, B4, 1, 2, SYN)
        .ipv4_fragment(0, true)
        .ipv4_id(7)
        .build();
    assert_eq!(be16(&first, 18), 7);
    assert_eq!(be16(&first, 20), 0x2000);
    let later = FrameBuilder::tcp_v4(A4, B4, 1, 2, SYN)
        .ipv4_fragment(185, false)
        .build();
    assert_eq!(be16(&later, 20), 185);
    let whole = FrameBuilder::tcp_v4(A4, B4, 1, 2, SYN).build();
    assert_eq!(be16(&whole, 20), 0x4000, "don't fragment");
}

#[test]
fn ipv6_extension_chain_links_and_lengths() {
    let frame = FrameBuilder::tcp_v6(A6, B6, 1, 22, SYN)
        .ipv6_ext(IPPROTO_HOPOPTS, 8)
        .ipv6_ext(IPPROTO_DSTOPTS, 24)
        .ipv6_ext(IPPROTO_ROUTING, 16)
        .ipv6_fragment(0, true)
        .ipv6_ext(IPPROTO_AH, 12)
        .build_frame();
    let b = &frame.bytes;
    let chain = 8 + 24 + 16 + 8 + 12;
    assert_eq!(frame.transport_offset, 54 + chain);
    assert_eq!(usize::from(be16(b, 18)), chain + 20);
    assert_eq!(b[20], IPPROTO_HOPOPTS);
    // (offset, next header, length byte)
    let expected = [
        (54, IPPROTO_DSTOPTS, 0),
        (62, IPPROTO_ROUTING, 2),
        (86, IPPROTO_FRAGMENT, 1),
        (102, IPPROTO_AH, 0),
        (110, IPPROTO_TCP, 1),
    ];
    for (at, next, len) in expected {
        assert_eq!((b[at], b[at + 1]), (next, len), "extension header at {at}");
    }
    assert_eq!(be16(b, 104), 1, "fragment offset 0, M set");
    assert_eq!(b[88], EXPERIMENTAL_ROUTING_TYPE);
    assert_eq!(b[89], 0, "segments left");
    assert_eq!(be16(b, frame.transport_offset + 2), 22);
    assert_eq!(
        ones_complement_sum(&[
            &v6_pseudo(&frame, IPPROTO_TCP),
            &b[frame.transport_offset..]
        ]),
        0xffff
    );
}

#[test]
fn long_option_headers_use_few_non_padding_options() {
    let frame = FrameBuilder::udp_v6(A6, B6, 1, 2, &[])
        .ipv6_ext(IPPROTO_HOPOPTS, 2048)
        .build_frame();
    let options = &frame.bytes[56..54 + 2048];
    let mut at = 0;
    let mut count = 0;
    while at < options.len() {
        match options[at] {
            0 => at += 1,
            EXPERIMENTAL_OPTION => {
                at += 2 + usize::from(options[at + 1]);
                count += 1;
            }
            other => panic!("unexpected option type {other}"),
        }
    }
    assert_eq!(at, options.len(), "options fill the header exactly");
    assert!(count <= 8, "{count} options: Linux accepts 8 by default");
    assert_eq!(frame.bytes[55], 255);
}

#[test]
fn ipv6_fragment_offset() {
    let b = FrameBuilder::udp_v6(A6, B6, 1, 2, &[])
        .ipv6_fragment(3, false)
        .build();
    assert_eq!(b[20], IPPROTO_FRAGMENT);
    assert_eq!(b[54], IPPROTO_UDP);
    assert_eq!(be16(&b, 56), 3 << 3);
}

#[test]
fn truncated_transport_and_padding() {
    let frame = FrameBuilder::tcp_v4(A4, B4, 1, 2, SYN)
        .ipv4_fragment(0, true)
        .truncate_transport(8)
        .pad_to(ETH_MIN_FRAME)
        .build_frame();
    assert_eq!(frame.bytes.len(), ETH_MIN_FRAME);
    assert_eq!(
        be16(&frame.bytes, 16),
        28,
        "IPv4 total length counts 8 bytes of TCP"
    );
    assert!(frame.bytes[42..].iter().all(|b| *b == 0), "zero padding");
    assert_eq!(checksum(&frame.bytes[14..34]), 0);
}

#[test]
fn arp_request() {
    let b = FrameBuilder::arp(ARP_REQUEST, A4, B4).build();
    assert_eq!(b.len(), 14 + 28);
    assert_eq!(&b[0..6], BROADCAST_MAC);
    assert_eq!(be16(&b, 12), ETH_P_ARP);
    assert_eq!(be16(&b, 20), ARP_REQUEST);
    assert_eq!(&b[22..28], DEFAULT_SRC_MAC);
    assert_eq!(&b[28..32], A4.octets());
    assert_eq!(&b[38..42], B4.octets());
}
