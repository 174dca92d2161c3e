//! Every IP protocol is judged (`../shared/DESIGN.md`, "The verdict", step 5): UDP-Lite,
//! SCTP and DCCP by destination port like UDP, every other protocol but ICMP, `ICMPv6` and
//! IGMP as a new connection unless it answers traffic this host sent; and TCP behind an
//! IPv4 AH header by its ports.

use std::net::{Ipv4Addr, Ipv6Addr};

use fwxdp_common::Proto;
use fwxdp_tests::{
    packet::{ETH_P_IPV4, FrameBuilder, IPPROTO_AH, SYN, tunnel},
    verdict::{
        Filter,
        frames::{EPHEMERAL, LOCAL4, LOCAL6, REMOTE4, REMOTE6},
        outcome::{ALLOWED, ALLOWED_CIDR, ESTABLISHED, MALFORMED, OTHER, port_drop, protocol_drop},
    },
};

const POLICY: &str = "80,5000/sctp,5300/udplite,6000/dccp,7000/sctp@10.0.0.0/8,\
                      7000/udplite@2001:db8::/32,ip:esp,ip:gre@203.0.113.0/24,ip:253";

const GRE: u8 = 47;
const ESP: u8 = 50;
const IPIP: u8 = 4;
const IPV6: u8 = 41;

/// The smallest header of each port-bearing datagram protocol, its ports first.
fn header(proto: Proto, src_port: u16, dst_port: u16) -> Vec<u8> {
    let len = match proto {
        Proto::Sctp | Proto::Dccp => 12,
        Proto::Tcp => 20,
        Proto::Udp | Proto::UdpLite => 8,
    };
    let mut header = vec![0; len];
    header[..2].copy_from_slice(&src_port.to_be_bytes());
    header[2..4].copy_from_slice(&dst_port.to_be_bytes());
    header
}

fn datagram4(proto: Proto, src: Ipv4Addr, dst: Ipv4Addr, src_port: u16, dst_port: u16) -> Vec<u8> {
    FrameBuilder::raw_v4(src, dst, proto.ip_protocol())
        .payload(&header(proto, src_port, dst_port))
        .build()
}

fn datagram6(proto: Proto, src: Ipv6Addr, dst: Ipv6Addr, src_port: u16, dst_port: u16) -> Vec<u8> {
    FrameBuilder::raw_v6(src, dst, proto.ip_protocol())
        .payload(&header(proto, src_port, dst_port))
        .build()
}

const DATAGRAMS: [Proto; 3] = [Proto::UdpLite, Proto::Sctp, Proto::Dccp];

#[test]
fn udplite_sctp_and_dccp_are_judged_by_their_ports() {
    let mut f = Filter::new(POLICY);
    let open = |proto| match proto {
        Proto::Sctp => 5000,
        Proto::UdpLite => 5300,
        _ => 6000,
    };
    for proto in DATAGRAMS {
        let name = proto.name();
        let port = open(proto);
        let to = |port| datagram4(proto, REMOTE4, LOCAL4, EPHEMERAL, port);
        let to6 = |port| datagram6(proto, REMOTE6, LOCAL6, EPHEMERAL, port);
        f.expect(&format!("{name} to its open port"), &to(port), ALLOWED);
        f.expect(&format!("v6 {name} to its open port"), &to6(port), ALLOWED);
        f.expect(
            &format!("{name} to 5432"),
            &to(5432),
            port_drop(proto, 5432),
        );
        f.expect(
            &format!("v6 {name} to 5432"),
            &to6(5432),
            port_drop(proto, 5432),
        );
        // `80` is TCP and UDP: it opens no other protocol.
        f.expect(&format!("{name} to 80"), &to(80), port_drop(proto, 80));
    }
    // Each protocol's rule opens that protocol only.
    let sctp_to_udplite_port = datagram4(Proto::Sctp, REMOTE4, LOCAL4, EPHEMERAL, 5300);
    f.expect(
        "sctp to 5300",
        &sctp_to_udplite_port,
        port_drop(Proto::Sctp, 5300),
    );
    let udp = FrameBuilder::udp_v4(REMOTE4, LOCAL4, EPHEMERAL, 5000, b"x").build();
    f.expect("udp to 5000", &udp, port_drop(Proto::Udp, 5000));
}

#[test]
fn udplite_sctp_and_dccp_source_networks_admit_only_theirs() {
    let mut f = Filter::new(POLICY);
    let inside = Ipv4Addr::new(10, 9, 8, 7);
    let sctp = datagram4(Proto::Sctp, inside, LOCAL4, EPHEMERAL, 7000);
    f.expect("sctp from 10/8", &sctp, ALLOWED_CIDR);
    let sctp = datagram4(Proto::Sctp, REMOTE4, LOCAL4, EPHEMERAL, 7000);
    f.expect("sctp from outside", &sctp, port_drop(Proto::Sctp, 7000));
    let dccp = datagram4(Proto::Dccp, inside, LOCAL4, EPHEMERAL, 7000);
    f.expect("dccp from 10/8", &dccp, port_drop(Proto::Dccp, 7000));
    let doc6 = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 7);
    let lite = datagram6(Proto::UdpLite, doc6, LOCAL6, EPHEMERAL, 7000);
    f.expect("udplite from 2001:db8::/32", &lite, ALLOWED_CIDR);
    let lite = datagram6(Proto::UdpLite, REMOTE6, LOCAL6, EPHEMERAL, 7000);
    f.expect(
        "udplite from outside",
        &lite,
        port_drop(Proto::UdpLite, 7000),
    );
}

#[test]
fn a_datagram_header_cut_short_is_malformed() {
    let mut f = Filter::new(POLICY);
    for proto in DATAGRAMS {
        let full = header(proto, EPHEMERAL, 5000);
        for len in 0..full.len() {
            let cut = FrameBuilder::raw_v4(REMOTE4, LOCAL4, proto.ip_protocol())
                .payload(&full[..len])
                .build();
            f.expect(
                &format!("{} header of {len} bytes", proto.name()),
                &cut,
                MALFORMED,
            );
        }
    }
}

#[test]
fn other_protocols_drop_unless_allowed() {
    let mut f = Filter::new(POLICY);
    // 20 bytes and more: a tunnel packet is 40 bytes from its IP header at the least.
    let mut payload = vec![0x45, 0, 0, 20, 0, 0, 0, 0];
    payload.resize(20, 0);
    let v4 = |src, protocol| {
        FrameBuilder::raw_v4(src, LOCAL4, protocol)
            .payload(&payload)
            .build()
    };
    let v6 = |src, protocol| {
        FrameBuilder::raw_v6(src, LOCAL6, protocol)
            .payload(&payload)
            .build()
    };
    for protocol in [GRE, IPIP, IPV6, 0x73, 89, 112, 255] {
        f.expect(
            &format!("v4 protocol {protocol}"),
            &v4(REMOTE4, protocol),
            protocol_drop(protocol),
        );
        f.expect(
            &format!("v6 protocol {protocol}"),
            &v6(REMOTE6, protocol),
            protocol_drop(protocol),
        );
    }
    // 4in6 and 6in6: IPv6 carrying IP.
    f.expect("v6 protocol 4", &v6(REMOTE6, IPIP), protocol_drop(IPIP));
    // ICMP and IGMP pass in IPv4 only, ICMPv6 in IPv6 only: elsewhere they are protocols.
    f.expect("v6 ICMP", &v6(REMOTE6, 1), protocol_drop(1));
    f.expect("v6 IGMP", &v6(REMOTE6, 2), protocol_drop(2));
    f.expect("v4 ICMPv6", &v4(REMOTE4, 58), protocol_drop(58));
    f.expect("esp", &v4(REMOTE4, ESP), ALLOWED);
    f.expect("v6 esp", &v6(REMOTE6, ESP), ALLOWED);
    f.expect("protocol 253", &v4(REMOTE4, 253), ALLOWED);
    let peer = Ipv4Addr::new(203, 0, 113, 9);
    // From its network, GRE passes; what it carries is judged then, here an allowed SYN.
    let syn = FrameBuilder::tcp_v4(Ipv4Addr::new(10, 9, 0, 2), LOCAL4, EPHEMERAL, 80, SYN).build();
    let carried = tunnel::gre(0, ETH_P_IPV4, tunnel::ip_packet(&syn));
    f.expect(
        "gre from its network",
        &FrameBuilder::raw_v4(peer, LOCAL4, GRE)
            .payload(&carried)
            .build(),
        ALLOWED,
    );
    f.expect(
        "ipip from gre's network",
        &v4(peer, IPIP),
        protocol_drop(IPIP),
    );
    // Counted per protocol number.
    let drops = f.totals().protocol_drops;
    let gre = drops
        .iter()
        .find(|(n, _)| *n == GRE)
        .map(|(_, c)| c.packets);
    assert_eq!(gre, Some(2), "{drops:?}");
    assert_eq!(
        drops
            .iter()
            .find(|(n, _)| *n == IPIP)
            .map(|(_, c)| c.packets),
        Some(4)
    );
}

#[test]
fn replies_to_traffic_this_host_sent_pass() {
    let mut f = Filter::new(POLICY);
    let (local, remote) = (Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(192, 0, 2, 77));
    // GRE carrying MPLS: nothing inside for the host's sockets, so the GRE verdict is all.
    let gre = |src, dst| {
        FrameBuilder::raw_v4(src, dst, GRE)
            .payload(&tunnel::gre(0, tunnel::ETH_P_MPLS, &[0; 16]))
            .build()
    };
    f.expect(
        "gre before the host sent any",
        &gre(remote, local),
        protocol_drop(GRE),
    );
    f.record_outbound(&gre(local, remote));
    f.expect("gre answer", &gre(remote, local), OTHER);
    f.expect(
        "gre from another host",
        &gre(Ipv4Addr::new(192, 0, 2, 78), local),
        protocol_drop(GRE),
    );
    // The flow is GRE's: IPIP between the same hosts is judged on its own.
    let ipip = FrameBuilder::raw_v4(remote, local, IPIP)
        .payload(&[0; 20])
        .build();
    f.expect("ipip between the same hosts", &ipip, protocol_drop(IPIP));

    for proto in DATAGRAMS {
        let name = proto.name();
        let answer = datagram4(proto, remote, local, 9000, EPHEMERAL);
        f.expect(
            &format!("{name} answer before"),
            &answer,
            port_drop(proto, EPHEMERAL),
        );
        f.record_outbound(&datagram4(proto, local, remote, EPHEMERAL, 9000));
        f.expect(&format!("{name} answer"), &answer, ESTABLISHED);
    }
    // A UDP flow on the same ports opens no other protocol.
    f.record_outbound(&FrameBuilder::udp_v4(local, remote, 40_100, 9000, b"q").build());
    let lite = datagram4(Proto::UdpLite, remote, local, 9000, 40_100);
    f.expect(
        "udplite on a udp flow",
        &lite,
        port_drop(Proto::UdpLite, 40_100),
    );

    let (local6, remote6) = (LOCAL6, REMOTE6);
    let esp_like = |src, dst| {
        FrameBuilder::raw_v6(src, dst, 0x73)
            .payload(&[0; 8])
            .build()
    };
    f.record_outbound(&esp_like(local6, remote6));
    f.expect("v6 l2tp answer", &esp_like(remote6, local6), ESTABLISHED);
}

#[test]
fn tcp_behind_an_ipv4_ah_header_is_judged_by_its_ports() {
    let mut f = Filter::new(POLICY);
    // AH: next header, length (4-byte units minus 2), reserved, SPI, sequence, a 12-byte ICV.
    let ah = |next: u8| {
        let mut h = vec![next, 4, 0, 0];
        h.extend_from_slice(&[0, 0, 1, 0, 0, 0, 0, 1]);
        h.extend_from_slice(&[0; 12]);
        h
    };
    let syn = |port: u16| {
        let inner = FrameBuilder::tcp_v4(REMOTE4, LOCAL4, EPHEMERAL, port, SYN).build_frame();
        let tcp = &inner.bytes[inner.transport_offset..];
        let mut body = ah(6);
        body.extend_from_slice(tcp);
        FrameBuilder::raw_v4(REMOTE4, LOCAL4, IPPROTO_AH)
            .payload(&body)
            .build()
    };
    f.expect("AH + SYN to 80", &syn(80), ALLOWED);
    f.expect("AH + SYN to 5432", &syn(5432), port_drop(Proto::Tcp, 5432));
    // AH carrying ESP, or cut short.
    let mut esp = ah(ESP);
    esp.extend_from_slice(&[0; 8]);
    let esp = FrameBuilder::raw_v4(REMOTE4, LOCAL4, IPPROTO_AH)
        .payload(&esp)
        .build();
    f.expect("AH + ESP", &esp, ALLOWED);
    let cut = FrameBuilder::raw_v4(REMOTE4, LOCAL4, IPPROTO_AH)
        .payload(&ah(6)[..10])
        .build();
    f.expect("AH cut short", &cut, MALFORMED);
    let cut_tcp = FrameBuilder::raw_v4(REMOTE4, LOCAL4, IPPROTO_AH)
        .payload(&ah(6))
        .build();
    f.expect("AH without the TCP header", &cut_tcp, MALFORMED);
}
