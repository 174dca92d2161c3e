//! Per-source rate limits (`../shared/DESIGN.md`, "Allow specs"): at most N new connections
//! per source address (IPv6: per /64) in any window on a limited port; over it the SYN is
//! dropped with reason `ratelimit` and charged to the port. Segments of connections are
//! never limited.

use std::{
    net::{Ipv4Addr, Ipv6Addr},
    thread::sleep,
    time::Duration,
};

use fwxdp_common::Proto;
use fwxdp_tests::{
    packet::{ACK, FrameBuilder, SYN},
    verdict::{
        Filter,
        frames::{EPHEMERAL, LOCAL4, LOCAL6},
        outcome::{ALLOWED, ESTABLISHED, port_drop, ratelimit_drop},
    },
};

const A: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 10);
const B: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 11);

fn syn(src: Ipv4Addr, port: u16) -> Vec<u8> {
    FrameBuilder::tcp_v4(src, LOCAL4, EPHEMERAL, port, SYN).build()
}

fn syn6(src: Ipv6Addr, port: u16) -> Vec<u8> {
    FrameBuilder::tcp_v6(src, LOCAL6, EPHEMERAL, port, SYN).build()
}

#[test]
fn a_source_over_its_limit_is_dropped_and_others_are_not() {
    let mut f = Filter::with_limits("80", "22/tcp=3/60s");
    for i in 0..3 {
        f.expect(&format!("A's SYN {i}"), &syn(A, 22), ALLOWED);
    }
    f.expect("A's 4th SYN", &syn(A, 22), ratelimit_drop(Proto::Tcp, 22));
    f.expect("A's 5th SYN", &syn(A, 22), ratelimit_drop(Proto::Tcp, 22));
    f.expect("B's first SYN", &syn(B, 22), ALLOWED);
    // Connections under way are never limited, nor other ports.
    let ack = FrameBuilder::tcp_v4(A, LOCAL4, EPHEMERAL, 22, ACK).build();
    f.expect("A's ACK", &ack, ESTABLISHED);
    f.expect("A's SYN to 80", &syn(A, 80), ALLOWED);
    // The limit is for TCP: UDP to 22 is not allowed at all.
    let udp = FrameBuilder::udp_v4(A, LOCAL4, EPHEMERAL, 22, b"x").build();
    f.expect("A's UDP to 22", &udp, port_drop(Proto::Udp, 22));
    let totals = f.totals();
    assert_eq!(
        totals.limit_drops,
        vec![(
            Proto::Tcp,
            22,
            fwxdp_common::Counter {
                packets: 2,
                bytes: 2 * syn(A, 22).len() as u64
            }
        )]
    );
    assert!(
        totals
            .port_drops
            .iter()
            .all(|t| t.port != 22 || t.proto != Proto::Tcp)
    );
}

#[test]
fn ipv6_sources_share_a_limit_per_64() {
    let mut f = Filter::with_limits("80", "22/tcp=2/60s");
    let host = |last: u16, subnet: u16| Ipv6Addr::new(0x2001, 0xdb8, 1, subnet, 0, 0, 0, last);
    f.expect("::10", &syn6(host(0x10, 2), 22), ALLOWED);
    f.expect("::20 of the same /64", &syn6(host(0x20, 2), 22), ALLOWED);
    f.expect(
        "::30 of the same /64, over",
        &syn6(host(0x30, 2), 22),
        ratelimit_drop(Proto::Tcp, 22),
    );
    f.expect("another /64", &syn6(host(0x10, 3), 22), ALLOWED);
    // IPv4 and IPv6 are tracked apart.
    f.expect("an IPv4 source", &syn(A, 22), ALLOWED);
}

#[test]
fn the_window_slides() {
    let mut f = Filter::with_limits("80", "22/tcp=2/1s");
    f.expect("1st", &syn(A, 22), ALLOWED);
    f.expect("2nd", &syn(A, 22), ALLOWED);
    f.expect("3rd, at once", &syn(A, 22), ratelimit_drop(Proto::Tcp, 22));
    sleep(Duration::from_millis(500));
    f.expect(
        "4th, half a window on",
        &syn(A, 22),
        ratelimit_drop(Proto::Tcp, 22),
    );
    sleep(Duration::from_millis(700));
    // Both earlier admissions are over a window old: two more fit, not three.
    f.expect("5th, a window on", &syn(A, 22), ALLOWED);
    f.expect("6th", &syn(A, 22), ALLOWED);
    f.expect("7th", &syn(A, 22), ratelimit_drop(Proto::Tcp, 22));
}

#[test]
fn limits_apply_per_port_and_protocol() {
    let mut f = Filter::with_limits("443", "2222-2223/tcp=1/60s,5000/sctp=1/60s");
    f.expect("2222", &syn(A, 2222), ALLOWED);
    f.expect(
        "2222 again",
        &syn(A, 2222),
        ratelimit_drop(Proto::Tcp, 2222),
    );
    f.expect("2223 has its own count", &syn(A, 2223), ALLOWED);
    let sctp = |src| {
        let mut header = vec![0u8; 12];
        header[..2].copy_from_slice(&EPHEMERAL.to_be_bytes());
        header[2..4].copy_from_slice(&5000u16.to_be_bytes());
        FrameBuilder::raw_v4(src, LOCAL4, Proto::Sctp.ip_protocol())
            .payload(&header)
            .build()
    };
    f.expect("SCTP to 5000", &sctp(A), ALLOWED);
    f.expect(
        "SCTP to 5000 again",
        &sctp(A),
        ratelimit_drop(Proto::Sctp, 5000),
    );
    f.expect("SCTP from B", &sctp(B), ALLOWED);
    f.expect("443 is not limited", &syn(A, 443), ALLOWED);
    f.expect("443 again", &syn(A, 443), ALLOWED);
}
