//! The blocklist (`../shared/DESIGN.md`, "The verdict", step 3): every packet from a
//! blocked source is dropped, on every port and protocol, before the allow policy; blocks
//! on every interface and on one interface's name; expiry checked by the program.

use std::{
    net::{Ipv4Addr, Ipv6Addr},
    thread::sleep,
    time::Duration,
};

use fwxdp::state::Scope;
use fwxdp_common::{Config, Reason, block_scope};
use fwxdp_tests::{
    packet::{ACK, FrameBuilder, SYN},
    verdict::{
        Filter,
        frames::{EPHEMERAL, LOCAL4, LOCAL6},
        net,
        outcome::{ALLOWED, Action, Verdict, port_drop},
    },
};

const BLOCKED: Verdict = Verdict {
    action: Action::Drop,
    reason: Reason::Blocked,
    port: None,
    protocol: None,
    overflowed: false,
};

/// How long the timed blocks last: long enough to be seen in force on a busy machine.
const LIFETIME: Duration = Duration::from_secs(2);

const BAD: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 7);
const GOOD: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 8);

fn syn(src: Ipv4Addr, port: u16) -> Vec<u8> {
    FrameBuilder::tcp_v4(src, LOCAL4, EPHEMERAL, port, SYN).build()
}

#[test]
fn a_blocked_source_is_dropped_on_every_port_and_protocol() {
    let mut f = Filter::new("22,80");
    f.loaded
        .blocks
        .insert(&Scope::All, net("203.0.113.7/32"), None)
        .unwrap();
    f.expect("SYN to an open port", &syn(BAD, 22), BLOCKED);
    let ack = FrameBuilder::tcp_v4(BAD, LOCAL4, EPHEMERAL, 22, ACK).build();
    f.expect("a segment of a connection", &ack, BLOCKED);
    let udp = FrameBuilder::udp_v4(BAD, LOCAL4, EPHEMERAL, 80, b"x").build();
    f.expect("UDP", &udp, BLOCKED);
    let icmp = FrameBuilder::raw_v4(BAD, LOCAL4, 1)
        .payload(&[8, 0, 0, 0])
        .build();
    f.expect("ICMP", &icmp, BLOCKED);
    f.expect("another source", &syn(GOOD, 22), ALLOWED);
    f.expect(
        "another source, closed port",
        &syn(GOOD, 3306),
        port_drop(fwxdp_common::Proto::Tcp, 3306),
    );
}

#[test]
fn networks_block_ipv4_and_ipv6_alike() {
    let mut f = Filter::new("22");
    f.loaded
        .blocks
        .insert(&Scope::All, net("198.18.0.0/15"), None)
        .unwrap();
    f.loaded
        .blocks
        .insert(&Scope::All, net("2001:db8:bad::/48"), None)
        .unwrap();
    f.expect(
        "inside the /15",
        &syn(Ipv4Addr::new(198, 19, 255, 1), 22),
        BLOCKED,
    );
    f.expect(
        "outside it",
        &syn(Ipv4Addr::new(198, 20, 0, 1), 22),
        ALLOWED,
    );
    let syn6 = |src: Ipv6Addr| FrameBuilder::tcp_v6(src, LOCAL6, EPHEMERAL, 22, SYN).build();
    f.expect(
        "inside the /48",
        &syn6("2001:db8:bad:1::9".parse().unwrap()),
        BLOCKED,
    );
    f.expect(
        "outside it",
        &syn6("2001:db8:bae::9".parse().unwrap()),
        ALLOWED,
    );
    // An IPv4 block says nothing of the IPv4-mapped form, which no wire packet carries.
    f.expect(
        "IPv4 neighbour",
        &syn(Ipv4Addr::new(198, 17, 0, 1), 22),
        ALLOWED,
    );
}

#[test]
fn an_interface_block_applies_to_that_interface_only() {
    let scoped = |name: &str| Config {
        block_scope: block_scope(name.as_bytes()),
        ..Config::default()
    };
    let mut eth0 = Filter::with_config("22", &scoped("eth0"));
    let blocks = [
        (Scope::Interface("eth0".into()), "203.0.113.7/32"),
        (Scope::Interface("eth1".into()), "203.0.113.8/32"),
    ];
    for (scope, cidr) in &blocks {
        eth0.loaded.blocks.insert(scope, net(cidr), None).unwrap();
    }
    eth0.expect("blocked on eth0", &syn(BAD, 22), BLOCKED);
    eth0.expect("blocked on eth1 only", &syn(GOOD, 22), ALLOWED);
    let listed = eth0.loaded.blocks.entries().unwrap();
    assert_eq!(listed.len(), 2);
    assert_eq!(listed[0].scope, Scope::Interface("eth0".into()));
    assert!(
        eth0.loaded
            .blocks
            .remove(&Scope::Interface("eth0".into()), net("203.0.113.7/32"))
            .unwrap()
    );
    eth0.expect("unblocked", &syn(BAD, 22), ALLOWED);
    assert!(
        !eth0
            .loaded
            .blocks
            .remove(&Scope::Interface("eth0".into()), net("203.0.113.7/32"))
            .unwrap()
    );
}

#[test]
fn a_block_expires_in_the_program_and_an_expired_one_hides_no_other() {
    let mut f = Filter::new("22");
    let given = std::time::Instant::now();
    let blocks = &mut f.loaded.blocks;
    blocks
        .insert(&Scope::All, net("203.0.113.7/32"), Some(LIFETIME))
        .unwrap();
    // A longer expired entry in front of a shorter one still in force.
    blocks
        .insert(&Scope::All, net("198.51.100.9/32"), Some(LIFETIME))
        .unwrap();
    blocks
        .insert(&Scope::All, net("198.51.100.0/24"), None)
        .unwrap();
    f.expect("before expiry", &syn(BAD, 22), BLOCKED);
    assert!(
        given.elapsed() < LIFETIME,
        "too slow to see the block in force"
    );
    sleep(LIFETIME + Duration::from_millis(200));
    f.expect("after expiry", &syn(BAD, 22), ALLOWED);
    f.expect(
        "an expired /32 inside a /24 in force",
        &syn(Ipv4Addr::new(198, 51, 100, 9), 22),
        BLOCKED,
    );
    // A timed block never shortens one for good.
    let blocks = &mut f.loaded.blocks;
    blocks
        .insert(&Scope::All, net("192.0.2.1/32"), None)
        .unwrap();
    blocks
        .insert(
            &Scope::All,
            net("192.0.2.1/32"),
            Some(Duration::from_millis(1)),
        )
        .unwrap();
    sleep(Duration::from_millis(50));
    f.expect(
        "kept for good",
        &syn(Ipv4Addr::new(192, 0, 2, 1), 22),
        BLOCKED,
    );
    // Pruning removes exactly the expired ones.
    assert_eq!(f.loaded.blocks.prune().unwrap(), 2);
    assert_eq!(f.loaded.blocks.entries().unwrap().len(), 2);
    f.expect("an unblocked source", &syn(GOOD, 22), ALLOWED);
}
