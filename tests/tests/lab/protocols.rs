//! Every IP protocol is judged: UDP-Lite by its ports, with real sockets; GRE, IPIP and ESP
//! as protocols without ports, dropped and counted unless allowed, and what an allowed
//! tunnel carries judged by its own ports.

use std::{
    net::{IpAddr, SocketAddr},
    time::Duration,
};

use fwxdp_tests::{
    lab::{
        CLIENT_V4, CLIENT_V6, INTERNET_IF, Lab, SERVER_IF, SERVER_V4, SERVER_V6, eventually,
        exporter,
        probe::{self, Udp},
        raw, services,
    },
    packet::{ETH_P_IPV4, FrameBuilder, tunnel},
};

const WAIT: Duration = Duration::from_millis(300);

fn udplite(lab: &Lab, to: IpAddr, port: u16) -> Udp {
    probe::udplite(&lab.internet, None, SocketAddr::new(to, port), WAIT)
}

#[test]
fn a_udplite_service_on_a_protected_port_receives_nothing_from_outside() {
    let lab = Lab::new();
    let _open = services::udplite_echo(&lab.server, 5300);
    let _protected = services::udplite_echo(&lab.server, 6379);
    // Without the filter both answer: this is the leak.
    for to in [IpAddr::from(SERVER_V4), SERVER_V6.into()] {
        assert_eq!(udplite(&lab, to, 6379), Udp::Reply, "{to} before attach");
    }
    lab.fwxdp_ok(&["attach", SERVER_IF, "--allow", "22,5300/udplite"]);
    for to in [IpAddr::from(SERVER_V4), SERVER_V6.into()] {
        assert_eq!(udplite(&lab, to, 5300), Udp::Reply, "{to}:5300");
        assert_eq!(udplite(&lab, to, 6379), Udp::Silent, "{to}:6379");
    }
    let (packets, _) = lab.port_drops("udplite", 6379);
    assert!(packets >= 2, "udplite 6379 drops: {packets}");
    // UDP on the UDP-Lite port is another protocol: not opened by 5300/udplite.
    let _udp = services::udp_echo(&lab.server, 5300);
    let to = SocketAddr::new(SERVER_V4.into(), 5300);
    assert_eq!(probe::udp(&lab.internet, None, to, WAIT), Udp::Silent);
}

/// Drops of reason `protocol` counted against `name` on the server's interface.
fn protocol_drops(lab: &Lab, name: &str) -> u64 {
    lab.stats_json()["interfaces"][0]["protocols"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|p| p["protocol"] == name)
        .and_then(|p| p["packets"].as_u64())
        .unwrap_or(0)
}

fn reason(lab: &Lab, reason: &str) -> u64 {
    lab.stats_json()["interfaces"][0]["reasons"][reason]["packets"]
        .as_u64()
        .expect("reason packets")
}

#[test]
fn gre_ipip_and_esp_are_dropped_and_counted_unless_allowed() {
    let lab = Lab::new();
    lab.fwxdp_ok(&["attach", SERVER_IF, "--allow", "22,ip:esp"]);
    let (src_mac, dst_mac) = (
        Lab::mac(&lab.internet, INTERNET_IF),
        Lab::mac(&lab.server, SERVER_IF),
    );
    let v4 = |protocol, payload: &[u8]| {
        FrameBuilder::raw_v4(CLIENT_V4, SERVER_V4, protocol)
            .payload(payload)
            .macs(src_mac, dst_mac)
            .build()
    };
    let v6 = |protocol, payload: &[u8]| {
        FrameBuilder::raw_v6(CLIENT_V6, SERVER_V6, protocol)
            .payload(payload)
            .macs(src_mac, dst_mac)
            .build()
    };
    // GRE carrying IPv4, IPIP and 6in4 with an inner header, ESP with an SPI.
    let inner = FrameBuilder::tcp_v4(CLIENT_V4, SERVER_V4, 40_000, 5432, 0x02).build_frame();
    let inner = &inner.bytes[inner.network_offset..];
    let mut gre = vec![0, 0, 0x08, 0];
    gre.extend_from_slice(inner);
    let esp = [0, 0, 0x10, 0, 0, 0, 0, 1, 0, 0, 0, 0];
    // A whole one: a tunnel packet shorter than 40 bytes from its IP header is malformed.
    let mut ipv6_header = vec![0x60, 0, 0, 0];
    ipv6_header.resize(40, 0);
    let allowed_before = reason(&lab, "allowed");
    raw::send(
        &lab.internet,
        INTERNET_IF,
        vec![
            v4(47, &gre),
            v6(47, &gre),
            v4(4, inner),
            v6(4, inner),
            v4(41, &ipv6_header),
            v4(50, &esp),
            v6(50, &esp),
        ],
    );
    assert_eq!(eventually(&2, || protocol_drops(&lab, "gre")), 2);
    assert_eq!(eventually(&2, || protocol_drops(&lab, "ipip")), 2);
    assert_eq!(eventually(&1, || protocol_drops(&lab, "ipv6")), 1);
    assert_eq!(protocol_drops(&lab, "esp"), 0);
    assert_eq!(reason(&lab, "allowed") - allowed_before, 2, "ESP allowed");
    assert_eq!(reason(&lab, "protocol"), 5);
    // The metrics say the same.
    exporter::start(&lab, &[]);
    let text = exporter::scrape(&lab);
    let labels = format!("interface=\"{SERVER_IF}\",protocol=\"gre\",reason=\"protocol\"");
    assert_eq!(
        exporter::value(&text, "fwxdp_dropped_packets_total", &labels),
        Some(2),
        "{text}"
    );
}

#[test]
fn what_an_allowed_tunnel_carries_is_judged_on_real_frames() {
    for mode in ["native", "tc"] {
        let lab = Lab::new();
        let peer = format!("{CLIENT_V4}/32");
        lab.fwxdp_ok(&[
            "attach",
            SERVER_IF,
            "--allow",
            &format!("22,ip:gre@{peer},ip:ipip@{peer}"),
            "--mode",
            mode,
        ]);
        let (src_mac, dst_mac) = (
            Lab::mac(&lab.internet, INTERNET_IF),
            Lab::mac(&lab.server, SERVER_IF),
        );
        let outer = |protocol, payload: &[u8]| {
            FrameBuilder::raw_v4(CLIENT_V4, SERVER_V4, protocol)
                .payload(payload)
                .macs(src_mac, dst_mac)
                .build()
        };
        let syn = |port| {
            let frame = FrameBuilder::tcp_v4(CLIENT_V4, SERVER_V4, 40_000, port, 0x02).build();
            tunnel::ip_packet(&frame).to_vec()
        };
        let allowed_before = reason(&lab, "allowed");
        raw::send(
            &lab.internet,
            INTERNET_IF,
            vec![
                outer(47, &tunnel::gre(0, ETH_P_IPV4, &syn(5432))),
                outer(47, &tunnel::gre(tunnel::GRE_KEY, ETH_P_IPV4, &syn(22))),
                outer(4, &syn(5432)),
                outer(4, &syn(22)),
            ],
        );
        // Counted by what they carry: two SYNs to 5432 dropped, two to 22 passed.
        assert_eq!(
            eventually(&2, || lab.port_drops("tcp", 5432).0),
            2,
            "{mode}"
        );
        assert_eq!(reason(&lab, "allowed") - allowed_before, 2, "{mode}");
        assert_eq!(protocol_drops(&lab, "gre"), 0, "{mode}");
    }
}
