//! The corpus: frames like those the test suites build, every transport to every port from
//! every source, which the fuzz mutates.

use std::net::{Ipv4Addr, Ipv6Addr};

use fwxdp_common::Proto;
use fwxdp_tests::packet::{
    ACK, ETH_P_IPV4, ETH_P_IPV6, FIN, FrameBuilder, IPPROTO_AH, IPPROTO_DSTOPTS, IPPROTO_HOPOPTS,
    IPPROTO_ROUTING, RST, SYN, TPID_8021AD, TPID_8021Q,
    tunnel::{self, ETH_P_MPLS, ETH_P_TEB, ETH_P_WCCP, GRE_CSUM, GRE_KEY, GRE_SEQ, ip_packet},
};

pub(crate) const LOCAL4: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);
pub(crate) const LOCAL6: Ipv6Addr = Ipv6Addr::new(0x3fff, 1, 0, 0, 0, 0, 0, 1);
pub(crate) const SOURCES4: [Ipv4Addr; 6] = [
    Ipv4Addr::new(192, 0, 2, 10),
    Ipv4Addr::new(10, 1, 2, 3),
    Ipv4Addr::new(203, 0, 113, 9),
    Ipv4Addr::LOCALHOST,
    Ipv4Addr::new(192, 0, 2, 77),
    Ipv4Addr::new(10, 200, 0, 1),
];
pub(crate) const SOURCES6: [Ipv6Addr; 5] = [
    Ipv6Addr::new(0x3fff, 0, 0, 0, 0, 0, 0, 0x10),
    Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 5),
    Ipv6Addr::LOCALHOST,
    Ipv6Addr::new(0, 0, 0, 0, 0, 0xffff, 0x0a01, 0x0203),
    Ipv6Addr::new(0, 0, 0, 0, 0, 0xffff, 0x7f00, 0x0001),
];
const PORTS: [u16; 14] = [
    22, 80, 443, 53, 67, 68, 546, 547, 5432, 3306, 8050, 9, 40_000, 65_535,
];

/// A frame of the corpus and where its layers start (mutations aim at header fields).
pub(crate) struct Seed {
    pub(crate) bytes: Vec<u8>,
    pub(crate) network: usize,
    pub(crate) transport: usize,
}

fn seed(builder: &FrameBuilder) -> Seed {
    let frame = builder.build_frame();
    Seed {
        network: frame.network_offset,
        transport: frame.transport_offset,
        bytes: frame.bytes,
    }
}

/// The ports of `proto`'s smallest header, then zeros.
pub(crate) fn ported(proto: Proto, src_port: u16, dst_port: u16) -> Vec<u8> {
    let mut header = vec![
        0;
        if matches!(proto, Proto::Sctp | Proto::Dccp) {
            12
        } else {
            8
        }
    ];
    header[..2].copy_from_slice(&src_port.to_be_bytes());
    header[2..4].copy_from_slice(&dst_port.to_be_bytes());
    header
}

/// Frames like those the test suites build: every transport to every port from every
/// source, with tags, options, fragments and extension headers.
pub(crate) fn corpus() -> Vec<Seed> {
    let mut seeds = Vec::new();
    let flags = [SYN, ACK, SYN | ACK, RST, FIN | ACK, SYN | FIN];
    for &src in &SOURCES4 {
        for &port in &PORTS {
            for &f in &flags {
                seeds.push(seed(&FrameBuilder::tcp_v4(src, LOCAL4, 40_000, port, f)));
            }
            seeds.push(seed(&FrameBuilder::udp_v4(src, LOCAL4, 53, port, b"x")));
            seeds.push(seed(&FrameBuilder::udp_v4(src, LOCAL4, port, 68, b"x")));
            for proto in [Proto::UdpLite, Proto::Sctp, Proto::Dccp] {
                let body = ported(proto, 9000, port);
                seeds.push(seed(
                    &FrameBuilder::raw_v4(src, LOCAL4, proto.ip_protocol()).payload(&body),
                ));
            }
        }
        for protocol in [1, 2, 4, 41, 47, 50, 58, 112, 253, 0, 255] {
            seeds.push(seed(
                &FrameBuilder::raw_v4(src, LOCAL4, protocol).payload(&[0x45, 0, 0, 20, 0, 0, 0, 0]),
            ));
        }
        let mut ah = vec![6, 4, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1];
        ah.extend_from_slice(&[0; 12]);
        let tcp = FrameBuilder::tcp_v4(src, LOCAL4, 40_000, 5432, SYN).build_frame();
        ah.extend_from_slice(&tcp.bytes[tcp.transport_offset..]);
        seeds.push(seed(
            &FrameBuilder::raw_v4(src, LOCAL4, IPPROTO_AH).payload(&ah),
        ));
        let syn = FrameBuilder::tcp_v4(src, LOCAL4, 40_000, 3306, SYN);
        seeds.push(seed(&syn.clone().vlan(TPID_8021Q, 7)));
        seeds.push(seed(&syn.clone().vlan(TPID_8021AD, 7).vlan(TPID_8021Q, 8)));
        seeds.push(seed(
            &syn.clone()
                .vlan(TPID_8021AD, 7)
                .vlan(TPID_8021Q, 8)
                .vlan(TPID_8021Q, 9),
        ));
        seeds.push(seed(&syn.clone().ipv4_options(&[1, 1, 1, 1, 7, 7, 4])));
        seeds.push(seed(&syn.clone().ipv4_fragment(0, true)));
        seeds.push(seed(&syn.clone().ipv4_fragment(3, false)));
    }
    for &src in &SOURCES6 {
        for &port in &PORTS {
            for &f in &flags {
                seeds.push(seed(&FrameBuilder::tcp_v6(src, LOCAL6, 40_000, port, f)));
            }
            seeds.push(seed(&FrameBuilder::udp_v6(src, LOCAL6, 547, port, b"x")));
            for proto in [Proto::UdpLite, Proto::Sctp, Proto::Dccp] {
                let body = ported(proto, 9000, port);
                seeds.push(seed(
                    &FrameBuilder::raw_v6(src, LOCAL6, proto.ip_protocol()).payload(&body),
                ));
            }
        }
        for protocol in [4, 41, 47, 50, 58, 59, 112, 253] {
            seeds.push(seed(
                &FrameBuilder::raw_v6(src, LOCAL6, protocol).payload(&[0; 8]),
            ));
        }
        let syn = FrameBuilder::tcp_v6(src, LOCAL6, 40_000, 5432, SYN);
        seeds.push(seed(&syn.clone().ipv6_ext(IPPROTO_HOPOPTS, 8)));
        seeds.push(seed(
            &syn.clone()
                .ipv6_ext(IPPROTO_HOPOPTS, 8)
                .ipv6_ext(IPPROTO_ROUTING, 24)
                .ipv6_ext(IPPROTO_DSTOPTS, 16)
                .ipv6_ext(IPPROTO_AH, 24),
        ));
        seeds.push(seed(&syn.clone().ipv6_fragment(0, true)));
        seeds.push(seed(&syn.clone().ipv6_fragment(5, false)));
        let mut long = syn.clone();
        for _ in 0..9 {
            long = long.ipv6_ext(IPPROTO_DSTOPTS, 8);
        }
        seeds.push(seed(&long));
        seeds.push(seed(&syn.vlan(TPID_8021Q, 3)));
    }
    seeds.extend(tunnels());
    seeds.push(seed(&FrameBuilder::arp(1, LOCAL4, SOURCES4[0])));
    seeds
}

/// Tunnel packets from every source, carrying connections to a few ports in every way Linux
/// decapsulates (and some it does not), for the mutations to take apart.
fn tunnels() -> Vec<Seed> {
    let mut inner: Vec<Vec<u8>> = Vec::new();
    for port in [22, 80, 5432, 8050] {
        for src in [Ipv4Addr::new(10, 1, 2, 3), Ipv4Addr::new(192, 0, 2, 10)] {
            let frame = FrameBuilder::tcp_v4(src, LOCAL4, 40_000, port, SYN).build();
            inner.push(ip_packet(&frame).to_vec());
        }
        let frame = FrameBuilder::tcp_v6(SOURCES6[1], LOCAL6, 40_000, port, SYN).build();
        inner.push(ip_packet(&frame).to_vec());
    }
    let udp = FrameBuilder::udp_v4(Ipv4Addr::new(10, 1, 2, 3), LOCAL4, 53, 5353, b"x").build();
    inner.push(ip_packet(&udp).to_vec());
    let fragment = FrameBuilder::tcp_v4(Ipv4Addr::new(10, 1, 2, 3), LOCAL4, 1, 22, SYN)
        .ipv4_fragment(2, false)
        .build();
    inner.push(ip_packet(&fragment).to_vec());
    let nested = FrameBuilder::raw_v4(SOURCES4[2], LOCAL4, 47)
        .payload(&tunnel::gre(0, ETH_P_IPV4, &inner[0]))
        .build();
    inner.push(ip_packet(&nested).to_vec());
    let mut payloads = Vec::new();
    for packet in &inner {
        let v6 = packet[0] >> 4 == 6;
        let (ether_type, number) = if v6 {
            (ETH_P_IPV6, 41)
        } else {
            (ETH_P_IPV4, 4)
        };
        payloads.push((number, packet.clone()));
        for flags in [0, GRE_KEY, GRE_CSUM | GRE_KEY | GRE_SEQ] {
            payloads.push((47, tunnel::gre(flags, ether_type, packet)));
        }
        let mut bridged = vec![2, 0, 0, 0, 0, 9, 2, 0, 0, 0, 0, 8];
        bridged.extend_from_slice(&ether_type.to_be_bytes());
        bridged.extend_from_slice(packet);
        payloads.push((47, tunnel::gre(0, ETH_P_TEB, &bridged)));
        if !v6 {
            payloads.push((47, tunnel::gre(0, ETH_P_WCCP, packet)));
            let mut redirected = vec![0; 4];
            redirected.extend_from_slice(packet);
            payloads.push((47, tunnel::gre(0, ETH_P_WCCP, &redirected)));
        }
    }
    payloads.push((47, tunnel::gre(0, ETH_P_MPLS, &[0; 8])));
    payloads.push((47, tunnel::gre(GRE_KEY | 1, 0x880b, &[0; 8])));
    let mut seeds = Vec::new();
    for (number, payload) in &payloads {
        for &src in &SOURCES4[..3] {
            seeds.push(seed(
                &FrameBuilder::raw_v4(src, LOCAL4, *number).payload(payload),
            ));
        }
        for &src in &SOURCES6[..2] {
            seeds.push(seed(
                &FrameBuilder::raw_v6(src, LOCAL6, *number).payload(payload),
            ));
        }
    }
    seeds
}
