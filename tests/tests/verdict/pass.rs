//! Frames the verdict (docs/DESIGN.md, "The verdict") passes whatever the allow rules: non-IP
//! frames, ICMP, IGMP, DHCP replies, and UDP replies to flows this host
//! started, on synthetic frames through `TestRun`.
//!
//! Every test loads its own instance, so its maps and counters are its own.

use std::net::{Ipv4Addr, Ipv6Addr};

use fwxdp_common::Proto;
use fwxdp_tests::packet::{
    ARP_REPLY, ARP_REQUEST, ETH_HLEN, FrameBuilder, ICMP_ECHO_REQUEST, ICMPV6_ECHO_REQUEST, SYN,
    TPID_8021Q,
};
use fwxdp_tests::verdict::{
    Filter, POLICY,
    frames::{EPHEMERAL, LOCAL4, LOCAL6, REMOTE4, REMOTE6, syn4},
    outcome::{ESTABLISHED, OTHER, port_drop},
};

// ---------------------------------------------------------------------------------------
// Protocols that always pass
// ---------------------------------------------------------------------------------------

#[test]
fn non_ip_frames_pass() {
    let mut f = Filter::new(POLICY);
    let request = FrameBuilder::arp(ARP_REQUEST, REMOTE4, LOCAL4);
    f.expect("ARP request", &request.build(), OTHER);
    f.expect(
        "ARP reply",
        &FrameBuilder::arp(ARP_REPLY, REMOTE4, LOCAL4).build(),
        OTHER,
    );
    f.expect("ARP in a VLAN", &request.vlan(TPID_8021Q, 7).build(), OTHER);
}

#[test]
fn icmp_and_icmpv6_pass() {
    let mut f = Filter::new(POLICY);
    let echo = FrameBuilder::icmp_v4(REMOTE4, LOCAL4, ICMP_ECHO_REQUEST, 0)
        .icmp_rest([0, 1, 0, 1])
        .payload(b"ping");
    f.expect("ICMP echo", &echo.build(), OTHER);
    // Destination unreachable, fragmentation needed: path-MTU discovery.
    let frag_needed = FrameBuilder::icmp_v4(REMOTE4, LOCAL4, 3, 4)
        .icmp_rest([0, 0, 0x05, 0xdc])
        .payload(&syn4(LOCAL4, 80).build()[ETH_HLEN..]);
    f.expect("ICMP fragmentation needed", &frag_needed.build(), OTHER);
    let ns =
        FrameBuilder::neighbour_solicitation(Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 1), LOCAL6);
    f.expect("neighbour solicitation", &ns.build(), OTHER);
    let dad = FrameBuilder::neighbour_solicitation(Ipv6Addr::UNSPECIFIED, LOCAL6);
    f.expect("duplicate address detection", &dad.build(), OTHER);
    let echo6 = FrameBuilder::icmp_v6(REMOTE6, LOCAL6, ICMPV6_ECHO_REQUEST, 0);
    f.expect("ICMPv6 echo", &echo6.build(), OTHER);
    let too_big = FrameBuilder::icmp_v6(REMOTE6, LOCAL6, 2, 0).icmp_rest([0, 0, 0x05, 0x00]);
    f.expect("ICMPv6 packet too big", &too_big.build(), OTHER);
}

#[test]
fn igmp_passes() {
    let mut f = Filter::new(POLICY);
    // A membership query from the router: multicast snooping needs the host to answer.
    let query = FrameBuilder::raw_v4(REMOTE4, Ipv4Addr::new(224, 0, 0, 1), 2)
        .payload(&[0x11, 0x64, 0xee, 0x9b, 0, 0, 0, 0])
        .build();
    f.expect("IGMP query", &query, OTHER);
}

#[test]
fn dhcp_client_replies_pass() {
    let mut f = Filter::new(POLICY);
    let offer = FrameBuilder::udp_v4(
        Ipv4Addr::new(192, 168, 1, 1),
        Ipv4Addr::BROADCAST,
        67,
        68,
        &[0; 240],
    );
    f.expect("DHCPv4 offer", &offer.build(), ESTABLISHED);
    let advertise = FrameBuilder::udp_v6(
        Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 1),
        Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 2),
        547,
        546,
        &[2, 0, 0, 1],
    );
    f.expect("DHCPv6 advertise", &advertise.build(), ESTABLISHED);
    // Only the server-to-client direction, only its own family, only UDP.
    let to_server = FrameBuilder::udp_v4(REMOTE4, LOCAL4, 68, 67, &[]).build();
    f.expect("v4 68 -> 67", &to_server, port_drop(Proto::Udp, 67));
    let v4_dhcpv6 = FrameBuilder::udp_v4(REMOTE4, LOCAL4, 547, 546, &[]).build();
    f.expect("v4 547 -> 546", &v4_dhcpv6, port_drop(Proto::Udp, 546));
    let v6_dhcpv4 = FrameBuilder::udp_v6(REMOTE6, LOCAL6, 67, 68, &[]).build();
    f.expect("v6 67 -> 68", &v6_dhcpv4, port_drop(Proto::Udp, 68));
    let tcp = FrameBuilder::tcp_v4(REMOTE4, LOCAL4, 67, 68, SYN).build();
    f.expect("TCP SYN 67 -> 68", &tcp, port_drop(Proto::Tcp, 68));
    let other_source = FrameBuilder::udp_v4(REMOTE4, LOCAL4, 69, 68, &[]).build();
    f.expect("v4 69 -> 68", &other_source, port_drop(Proto::Udp, 68));
}

// ---------------------------------------------------------------------------------------
// UDP replies to flows this host started
// ---------------------------------------------------------------------------------------

#[test]
fn udp_replies_to_outbound_flows_pass_v4() {
    let mut f = Filter::new(POLICY);
    let (local, remote) = (Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 2));
    let reply = |src, sport, dst, dport| FrameBuilder::udp_v4(src, dst, sport, dport, b"answer");
    let answer = reply(remote, 53, local, EPHEMERAL).build();
    let closed = port_drop(Proto::Udp, EPHEMERAL);
    f.expect("reply before any query", &answer, closed);

    f.record_outbound(&FrameBuilder::udp_v4(local, remote, EPHEMERAL, 53, b"query").build());
    f.expect("reply to the query", &answer, ESTABLISHED);
    f.expect("reply again", &answer, ESTABLISHED);
    let other_port = reply(remote, 54, local, EPHEMERAL).build();
    f.expect("from another remote port", &other_port, closed);
    let other_host = reply(Ipv4Addr::new(10, 0, 0, 3), 53, local, EPHEMERAL).build();
    f.expect("from another remote address", &other_host, closed);
    let other_local_port = reply(remote, 53, local, EPHEMERAL + 1).build();
    f.expect(
        "to another local port",
        &other_local_port,
        port_drop(Proto::Udp, EPHEMERAL + 1),
    );
    let other_local = reply(remote, 53, Ipv4Addr::new(10, 0, 0, 9), EPHEMERAL).build();
    f.expect("to another local address", &other_local, closed);
    // The flow is UDP: it does not open TCP.
    let tcp = FrameBuilder::tcp_v4(remote, local, 53, EPHEMERAL, SYN).build();
    f.expect(
        "TCP SYN on the flow's ports",
        &tcp,
        port_drop(Proto::Tcp, EPHEMERAL),
    );

    // Outbound TCP and outbound frames with VLAN tags: only UDP records a flow.
    f.record_outbound(&FrameBuilder::tcp_v4(local, remote, 40_001, 53, SYN).build());
    let after_tcp = reply(remote, 53, local, 40_001).build();
    f.expect(
        "reply after an outbound TCP SYN",
        &after_tcp,
        port_drop(Proto::Udp, 40_001),
    );
    let tagged = |b: FrameBuilder| b.vlan(TPID_8021Q, 10).build();
    f.record_outbound(&tagged(FrameBuilder::udp_v4(
        local,
        remote,
        40_002,
        123,
        &[],
    )));
    f.expect(
        "tagged reply",
        &tagged(reply(remote, 123, local, 40_002)),
        ESTABLISHED,
    );
}

#[test]
fn udp_replies_to_outbound_flows_pass_v6() {
    let mut f = Filter::new(POLICY);
    let remote = Ipv6Addr::new(0x3fff, 0, 0, 0, 0, 0, 0, 0x53);
    let reply = |src, sport, dport| FrameBuilder::udp_v6(src, LOCAL6, sport, dport, b"answer");
    let answer = reply(remote, 53, EPHEMERAL).build();
    let closed = port_drop(Proto::Udp, EPHEMERAL);
    f.expect("reply before any query", &answer, closed);

    f.record_outbound(&FrameBuilder::udp_v6(LOCAL6, remote, EPHEMERAL, 53, b"query").build());
    f.expect("reply to the query", &answer, ESTABLISHED);
    f.expect(
        "from another remote port",
        &reply(remote, 54, EPHEMERAL).build(),
        closed,
    );
    f.expect(
        "from another remote address",
        &reply(REMOTE6, 53, EPHEMERAL).build(),
        closed,
    );
    let v4 = FrameBuilder::udp_v4(REMOTE4, LOCAL4, 53, EPHEMERAL, &[]).build();
    f.expect("an IPv4 datagram on the same ports", &v4, closed);
}
