//! Crafted frames sent raw from the internet side: VLAN tags, exact counts, fragments.

use std::{
    net::{IpAddr, Ipv4Addr},
    time::Duration,
};

use fwxdp_tests::{
    lab::{
        CLIENT_V4, CLIENT_V6, INTERNET_IF, Lab, SERVER_IF, SERVER_V4, SERVER_V6, eventually, raw,
        services,
    },
    packet::{ETH_MIN_FRAME, FrameBuilder, IPPROTO_TCP, SYN, TPID_8021AD, TPID_8021Q},
};

/// The MACs a frame from the internet side to the server carries.
fn macs(lab: &Lab) -> ([u8; 6], [u8; 6]) {
    (
        Lab::mac(&lab.internet, INTERNET_IF),
        Lab::mac(&lab.server, SERVER_IF),
    )
}

fn syn(lab: &Lab, src: IpAddr, dst: IpAddr, src_port: u16, dst_port: u16) -> FrameBuilder {
    let (src_mac, dst_mac) = macs(lab);
    let builder = match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => FrameBuilder::tcp_v4(s, d, src_port, dst_port, SYN),
        (IpAddr::V6(s), IpAddr::V6(d)) => FrameBuilder::tcp_v6(s, d, src_port, dst_port, SYN),
        _ => panic!("mixed families"),
    };
    builder.macs(src_mac, dst_mac)
}

fn reason_packets(lab: &Lab, reason: &str) -> u64 {
    lab.stats_json()["interfaces"][0]["reasons"][reason]["packets"]
        .as_u64()
        .expect("reason packets")
}

#[test]
fn n_syns_to_a_protected_port_add_exactly_n_drops() {
    let lab = Lab::new();
    let _redis = services::tcp(&lab.server, 6379);
    lab.fwxdp_ok(&["attach", SERVER_IF, "--allow", "22,80,443"]);
    let (packets, bytes) = lab.port_drops("tcp", 6379);
    let port_reason = reason_packets(&lab, "port");
    let mut frames = Vec::new();
    for i in 0..7u16 {
        frames.push(syn(&lab, CLIENT_V4.into(), SERVER_V4.into(), 40_000 + i, 6379).build());
        frames.push(syn(&lab, CLIENT_V6.into(), SERVER_V6.into(), 41_000 + i, 6379).build());
    }
    let sent_bytes: usize = frames.iter().map(Vec::len).sum();
    let n = frames.len() as u64;
    raw::send(&lab.internet, INTERNET_IF, frames);
    let want = (packets + n, bytes + sent_bytes as u64);
    assert_eq!(eventually(&want, || lab.port_drops("tcp", 6379)), want);
    assert_eq!(reason_packets(&lab, "port") - port_reason, n, "reason port");
}

#[test]
fn vlan_tagged_syns_to_a_protected_port_are_dropped_and_counted() {
    // In tc mode the kernel has taken the outer tag off before the program runs: the
    // verdict must be the same, a third tag included.
    for mode in ["native", "generic", "tc"] {
        vlan_tags_are_judged_alike(mode);
    }
}

fn vlan_tags_are_judged_alike(mode: &str) {
    let lab = Lab::new();
    lab.fwxdp_ok(&["attach", SERVER_IF, "--allow", "22", "--mode", mode]);
    let tagged = |src: IpAddr, dst: IpAddr, port: u16| {
        let one = syn(&lab, src, dst, 40_000, port)
            .vlan(TPID_8021Q, 10)
            .build();
        let two = syn(&lab, src, dst, 40_001, port)
            .vlan(TPID_8021AD, 100)
            .vlan(TPID_8021Q, 10)
            .build();
        vec![one, two]
    };
    let mut frames = tagged(CLIENT_V4.into(), SERVER_V4.into(), 5432);
    frames.extend(tagged(CLIENT_V6.into(), SERVER_V6.into(), 5432));
    let sent_bytes: usize = frames.iter().map(Vec::len).sum();
    let allowed_before = reason_packets(&lab, "allowed");
    raw::send(&lab.internet, INTERNET_IF, frames);
    let want = (4, sent_bytes as u64);
    assert_eq!(
        eventually(&want, || lab.port_drops("tcp", 5432)),
        want,
        "{mode}"
    );

    // The same tags in front of an allowed port are judged allowed, not dropped.
    let mut frames = tagged(CLIENT_V4.into(), SERVER_V4.into(), 22);
    frames.extend(tagged(CLIENT_V6.into(), SERVER_V6.into(), 22));
    raw::send(&lab.internet, INTERNET_IF, frames);
    let want = allowed_before + 4;
    assert_eq!(eventually(&want, || reason_packets(&lab, "allowed")), want);
    assert_eq!(lab.port_drops("tcp", 22), (0, 0));

    // A third tag hides the payload: dropped as malformed.
    let triple = syn(&lab, CLIENT_V4.into(), SERVER_V4.into(), 40_002, 22)
        .vlan(TPID_8021AD, 100)
        .vlan(TPID_8021Q, 10)
        .vlan(TPID_8021Q, 11)
        .build();
    let malformed = reason_packets(&lab, "malformed");
    raw::send(&lab.internet, INTERNET_IF, vec![triple]);
    let want = malformed + 1;
    assert_eq!(
        eventually(&want, || reason_packets(&lab, "malformed")),
        want,
        "{mode}: three tags"
    );
}

/// A counter of the server namespace's kernel, from /proc/net/snmp (`Tcp`, `PassiveOpens`).
fn snmp(lab: &Lab, group: &str, field: &str) -> u64 {
    let output = lab
        .server
        .command("cat")
        .arg("/proc/net/snmp")
        .output()
        .expect("read /proc/net/snmp");
    let text = String::from_utf8(output.stdout).expect("UTF-8");
    let mut lines = text.lines().filter(|l| l.starts_with(&format!("{group}:")));
    let (names, values) = (lines.next().expect("header"), lines.next().expect("values"));
    let index = names
        .split_whitespace()
        .position(|n| n == field)
        .unwrap_or_else(|| panic!("no {group} {field}"));
    values
        .split_whitespace()
        .nth(index)
        .and_then(|v| v.parse().ok())
        .expect("counter value")
}

/// A SYN split after 8 bytes of TCP header: the first fragment holds only the ports and
/// sequence number, the flags come in the second (RFC 1858's tiny fragment attack).
fn split_syn(lab: &Lab, src: Ipv4Addr, dst: Ipv4Addr, port: u16, id: u16) -> Vec<Vec<u8>> {
    let (src_mac, dst_mac) = macs(lab);
    let whole = FrameBuilder::tcp_v4(src, dst, 40_100 + id, port, SYN).build_frame();
    let tcp = &whole.bytes[whole.transport_offset..whole.payload_offset];
    let first = FrameBuilder::tcp_v4(src, dst, 40_100 + id, port, SYN)
        .macs(src_mac, dst_mac)
        .ipv4_id(id)
        .ipv4_fragment(0, true)
        .truncate_transport(8)
        .pad_to(ETH_MIN_FRAME)
        .build();
    let second = FrameBuilder::raw_v4(src, dst, IPPROTO_TCP)
        .macs(src_mac, dst_mac)
        .ipv4_id(id)
        .ipv4_fragment(1, false)
        .payload(&tcp[8..])
        .build();
    vec![first, second]
}

/// Waits up to a second for `snmp(group, field)` to reach `target`; returns the last value.
fn wait_snmp(lab: &Lab, group: &str, field: &str, target: u64) -> u64 {
    let mut value = snmp(lab, group, field);
    for _ in 0..50 {
        if value >= target {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
        value = snmp(lab, group, field);
    }
    value
}

#[test]
fn a_syn_split_into_tiny_fragments_does_not_reach_a_protected_port() {
    let lab = Lab::new();
    let _mysql = services::tcp(&lab.server, 3306);
    let _ssh = services::tcp(&lab.server, 22);

    // Without the filter the kernel reassembles the two fragments and answers the SYN with a
    // SYN-ACK (one more segment sent): proof that the frames are a real connection attempt.
    let (sent, reassembled) = (snmp(&lab, "Tcp", "OutSegs"), snmp(&lab, "Ip", "ReasmOKs"));
    raw::send(
        &lab.internet,
        INTERNET_IF,
        split_syn(&lab, CLIENT_V4, SERVER_V4, 3306, 1),
    );
    assert_eq!(
        wait_snmp(&lab, "Ip", "ReasmOKs", reassembled + 1),
        reassembled + 1
    );
    assert_eq!(wait_snmp(&lab, "Tcp", "OutSegs", sent + 1), sent + 1);

    lab.fwxdp_ok(&["attach", SERVER_IF, "--allow", "22"]);
    let (sent, reassembled) = (snmp(&lab, "Tcp", "OutSegs"), snmp(&lab, "Ip", "ReasmOKs"));
    let malformed = reason_packets(&lab, "malformed");
    raw::send(
        &lab.internet,
        INTERNET_IF,
        split_syn(&lab, CLIENT_V4, SERVER_V4, 3306, 2),
    );
    // The same split SYN to an allowed port is dropped too: its ports are hidden.
    raw::send(
        &lab.internet,
        INTERNET_IF,
        split_syn(&lab, CLIENT_V4, SERVER_V4, 22, 3),
    );
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        snmp(&lab, "Ip", "ReasmOKs"),
        reassembled,
        "a split SYN was reassembled"
    );
    assert_eq!(
        snmp(&lab, "Tcp", "OutSegs"),
        sent,
        "a split SYN was answered"
    );
    let want = malformed + 2;
    assert_eq!(
        eventually(&want, || reason_packets(&lab, "malformed")),
        want
    );
}
