//! The verdict by port (docs/DESIGN.md, "The verdict"): TCP and UDP allow rules, rules restricted
//! to a source network, and loopback addresses, on synthetic frames through `TestRun`.
//!
//! Every test loads its own instance, so its maps and counters are its own.

use std::net::{Ipv4Addr, Ipv6Addr};

use fwxdp_common::{Counter, Proto, Reason};
use fwxdp_tests::packet::{
    ACK, FIN, FrameBuilder, ICMP_ECHO_REQUEST, ICMPV6_ECHO_REQUEST, PSH, RST, SYN,
};
use fwxdp_tests::verdict::{
    Filter, POLICY,
    frames::{EPHEMERAL, LOCAL4, LOCAL6, REMOTE4, REMOTE6, syn4, syn6, udp4, udp6},
    outcome::{ALLOWED, ALLOWED_CIDR, ESTABLISHED, LOOPBACK, port_drop},
};

// ---------------------------------------------------------------------------------------
// TCP and UDP by port
// ---------------------------------------------------------------------------------------

#[test]
fn tcp_syn_to_an_allowed_port_passes() {
    let mut f = Filter::new(POLICY);
    for port in [80, 443, 8000, 8050, 8100] {
        f.expect(
            &format!("v4 SYN to {port}"),
            &syn4(REMOTE4, port).build(),
            ALLOWED,
        );
        f.expect(
            &format!("v6 SYN to {port}"),
            &syn6(REMOTE6, port).build(),
            ALLOWED,
        );
    }
}

#[test]
fn tcp_syn_to_a_protected_port_drops_and_is_counted() {
    let mut f = Filter::new(POLICY);
    for port in [1, 22, 79, 81, 3306, 5432, 7999, 8101, 65535] {
        let drop = port_drop(Proto::Tcp, port);
        f.expect(
            &format!("v4 SYN to {port}"),
            &syn4(REMOTE4, port).build(),
            drop,
        );
        f.expect(
            &format!("v6 SYN to {port}"),
            &syn6(REMOTE6, port).build(),
            drop,
        );
    }
    // The per-port counter adds up packets and bytes over frames of different sizes.
    let mut f = Filter::new(POLICY);
    let frames = [
        syn4(REMOTE4, 6379).build(),
        syn4(REMOTE4, 6379).payload(&[0; 100]).build(),
        syn6(REMOTE6, 6379).build(),
    ];
    for frame in &frames {
        f.expect("SYN to 6379", frame, port_drop(Proto::Tcp, 6379));
    }
    let bytes: usize = frames.iter().map(Vec::len).sum();
    let expected = Counter {
        packets: 3,
        bytes: u64::try_from(bytes).unwrap(),
    };
    assert_eq!(f.port_drops(Proto::Tcp, 6379), expected);
    assert_eq!(f.reason(Reason::Port), expected);
    assert_eq!(f.port_drops(Proto::Udp, 6379), Counter::default());
}

#[test]
fn tcp_segments_that_do_not_open_a_connection_pass() {
    let mut f = Filter::new(POLICY);
    let flags = [
        ("SYN+ACK", SYN | ACK),
        ("ACK", ACK),
        ("RST", RST),
        ("RST+ACK", RST | ACK),
        ("FIN", FIN),
        ("FIN+ACK", FIN | ACK),
        ("PSH+ACK", PSH | ACK),
        ("no flags", 0),
    ];
    for (name, flags) in flags {
        let v4 = FrameBuilder::tcp_v4(REMOTE4, LOCAL4, EPHEMERAL, 3306, flags).build();
        let v6 = FrameBuilder::tcp_v6(REMOTE6, LOCAL6, EPHEMERAL, 3306, flags).build();
        f.expect(&format!("v4 {name} to 3306"), &v4, ESTABLISHED);
        f.expect(&format!("v6 {name} to 3306"), &v6, ESTABLISHED);
    }
}

#[test]
fn a_syn_without_ack_opens_a_connection_whatever_its_other_flags() {
    let mut f = Filter::new(POLICY);
    let flags = [
        ("SYN+FIN", SYN | FIN),
        ("SYN+RST", SYN | RST),
        ("SYN+PSH", SYN | PSH),
        // ECE+CWR: an ECN-setup SYN.
        ("ECN SYN", SYN | 0xc0),
    ];
    for (name, flags) in flags {
        let v4 = FrameBuilder::tcp_v4(REMOTE4, LOCAL4, EPHEMERAL, 3306, flags).build();
        let v6 = FrameBuilder::tcp_v6(REMOTE6, LOCAL6, EPHEMERAL, 3306, flags).build();
        f.expect(&format!("v4 {name}"), &v4, port_drop(Proto::Tcp, 3306));
        f.expect(&format!("v6 {name}"), &v6, port_drop(Proto::Tcp, 3306));
        let allowed = FrameBuilder::tcp_v4(REMOTE4, LOCAL4, EPHEMERAL, 80, flags).build();
        f.expect(&format!("v4 {name} to 80"), &allowed, ALLOWED);
    }
}

#[test]
fn udp_to_an_allowed_port_passes() {
    let mut f = Filter::new(POLICY);
    for port in [53, 80, 443] {
        f.expect(
            &format!("v4 UDP to {port}"),
            &udp4(REMOTE4, port).build(),
            ALLOWED,
        );
        f.expect(
            &format!("v6 UDP to {port}"),
            &udp6(REMOTE6, port).build(),
            ALLOWED,
        );
    }
}

#[test]
fn udp_to_a_protected_port_drops_and_is_counted() {
    let mut f = Filter::new(POLICY);
    for port in [123, 5353, 51820] {
        let drop = port_drop(Proto::Udp, port);
        f.expect(
            &format!("v4 UDP to {port}"),
            &udp4(REMOTE4, port).build(),
            drop,
        );
        f.expect(
            &format!("v6 UDP to {port}"),
            &udp6(REMOTE6, port).build(),
            drop,
        );
    }
    let frame = udp4(REMOTE4, 5353).build();
    let expected = Counter {
        packets: 2,
        bytes: u64::try_from(frame.len() + udp6(REMOTE6, 5353).build().len()).unwrap(),
    };
    assert_eq!(f.port_drops(Proto::Udp, 5353), expected);
    assert_eq!(f.port_drops(Proto::Tcp, 5353), Counter::default());
}

#[test]
fn allow_rules_apply_to_their_protocol_only() {
    let mut f = Filter::new(POLICY);
    // 53/udp does not open TCP 53; 8000-8100/tcp does not open UDP 8000.
    f.expect(
        "v4 TCP SYN to 53",
        &syn4(REMOTE4, 53).build(),
        port_drop(Proto::Tcp, 53),
    );
    f.expect(
        "v6 TCP SYN to 53",
        &syn6(REMOTE6, 53).build(),
        port_drop(Proto::Tcp, 53),
    );
    f.expect(
        "v4 UDP to 8000",
        &udp4(REMOTE4, 8000).build(),
        port_drop(Proto::Udp, 8000),
    );
    f.expect(
        "v6 UDP to 8000",
        &udp6(REMOTE6, 8000).build(),
        port_drop(Proto::Udp, 8000),
    );
}

// ---------------------------------------------------------------------------------------
// Source CIDRs and loopback
// ---------------------------------------------------------------------------------------

#[test]
fn a_source_cidr_admits_its_network_only_v4() {
    let mut f = Filter::new(POLICY);
    for src in [[10, 1, 2, 3], [10, 0, 0, 0], [10, 255, 255, 255]].map(Ipv4Addr::from) {
        f.expect(
            &format!("SYN from {src}"),
            &syn4(src, 5432).build(),
            ALLOWED_CIDR,
        );
        f.expect(
            &format!("UDP from {src}"),
            &udp4(src, 5432).build(),
            ALLOWED_CIDR,
        );
    }
    for src in [[11, 1, 2, 3], [9, 255, 255, 255], [192, 0, 2, 10]].map(Ipv4Addr::from) {
        let drop = port_drop(Proto::Tcp, 5432);
        f.expect(&format!("SYN from {src}"), &syn4(src, 5432).build(), drop);
    }
    // The network opens 5432 only: other ports stay closed to it.
    let inside = Ipv4Addr::new(10, 1, 2, 3);
    f.expect(
        "SYN from 10/8 to 5433",
        &syn4(inside, 5433).build(),
        port_drop(Proto::Tcp, 5433),
    );
    // An IPv4 network does not admit IPv6 sources.
    let v6 = syn6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1), 5432).build();
    f.expect("v6 SYN to 5432", &v6, port_drop(Proto::Tcp, 5432));
}

#[test]
fn a_source_cidr_admits_its_network_only_v6() {
    let mut f = Filter::new(POLICY);
    let inside = [
        Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1),
        Ipv6Addr::new(
            0x2001, 0xdb8, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff,
        ),
    ];
    for src in inside {
        f.expect(
            &format!("SYN from {src}"),
            &syn6(src, 22).build(),
            ALLOWED_CIDR,
        );
        f.expect(
            &format!("UDP from {src}"),
            &udp6(src, 22).build(),
            ALLOWED_CIDR,
        );
    }
    let outside = [
        Ipv6Addr::new(0x2001, 0xdb9, 0, 0, 0, 0, 0, 1),
        Ipv6Addr::new(0x2001, 0xdb7, 0xffff, 0, 0, 0, 0, 1),
        REMOTE6,
    ];
    for src in outside {
        f.expect(
            &format!("SYN from {src}"),
            &syn6(src, 22).build(),
            port_drop(Proto::Tcp, 22),
        );
    }
    f.expect(
        "v4 SYN to 22",
        &syn4(Ipv4Addr::new(10, 1, 2, 3), 22).build(),
        port_drop(Proto::Tcp, 22),
    );
}

#[test]
fn loopback_addresses_drop_even_to_allowed_ports() {
    let mut f = Filter::new(POLICY);
    for lo in [[127, 0, 0, 1], [127, 255, 0, 1], [127, 0, 0, 0]].map(Ipv4Addr::from) {
        let from = FrameBuilder::tcp_v4(lo, LOCAL4, EPHEMERAL, 80, SYN).build();
        let to = FrameBuilder::tcp_v4(REMOTE4, lo, EPHEMERAL, 80, SYN).build();
        f.expect(&format!("SYN from {lo}"), &from, LOOPBACK);
        f.expect(&format!("SYN to {lo}"), &to, LOOPBACK);
        let udp = FrameBuilder::udp_v4(lo, LOCAL4, EPHEMERAL, 53, &[]).build();
        f.expect(&format!("UDP from {lo}"), &udp, LOOPBACK);
        let icmp = FrameBuilder::icmp_v4(lo, LOCAL4, ICMP_ECHO_REQUEST, 0).build();
        f.expect(&format!("ICMP from {lo}"), &icmp, LOOPBACK);
        let ack = FrameBuilder::tcp_v4(lo, LOCAL4, 80, EPHEMERAL, ACK).build();
        f.expect(&format!("ACK from {lo}"), &ack, LOOPBACK);
    }
    let mapped = |a, b| Ipv6Addr::new(0, 0, 0, 0, 0, 0xffff, a, b);
    for lo in [
        Ipv6Addr::LOCALHOST,
        mapped(0x7f00, 1),
        mapped(0x7fff, 0xffff),
    ] {
        let from = FrameBuilder::tcp_v6(lo, LOCAL6, EPHEMERAL, 80, SYN).build();
        let to = FrameBuilder::tcp_v6(REMOTE6, lo, EPHEMERAL, 80, SYN).build();
        f.expect(&format!("SYN from {lo}"), &from, LOOPBACK);
        f.expect(&format!("SYN to {lo}"), &to, LOOPBACK);
        let ns = FrameBuilder::icmp_v6(lo, LOCAL6, ICMPV6_ECHO_REQUEST, 0).build();
        f.expect(&format!("ICMPv6 from {lo}"), &ns, LOOPBACK);
    }
    // Neighbours of the loopback ranges are ordinary addresses.
    for src in [[126, 255, 255, 255], [128, 0, 0, 1]].map(Ipv4Addr::from) {
        let frame = FrameBuilder::tcp_v4(src, LOCAL4, EPHEMERAL, 80, SYN).build();
        f.expect(&format!("SYN from {src}"), &frame, ALLOWED);
    }
    let not_loopback = [
        Ipv6Addr::new(0, 0, 0, 0, 0, 0, 0, 2),
        mapped(0x8000, 1),
        mapped(0x7e00, 1),
        Ipv6Addr::new(0, 0, 0, 0, 0, 0xfffe, 0x7f00, 1),
    ];
    for src in not_loopback {
        let frame = FrameBuilder::tcp_v6(src, LOCAL6, EPHEMERAL, 80, SYN).build();
        f.expect(&format!("SYN from {src}"), &frame, ALLOWED);
    }
}
