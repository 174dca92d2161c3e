//! The verdict (DESIGN.md "The verdict") on synthetic frames: the real BPF object, loaded with
//! `Loaded::new` and run through `BPF_PROG_TEST_RUN`, checked by return value and counters.
//!
//! Every test loads its own instance, so its maps and counters are its own.

use std::{
    collections::BTreeMap,
    fmt::Write as _,
    net::{Ipv4Addr, Ipv6Addr},
};

use aya::programs::{ProgramError, TestRun, TestRunOptions};
use fwxdp::{maps::Totals, object::Loaded, policy::Policy};
use fwxdp_common::{CONFIG_MONITOR, Config, Counter, Proto, Reason, program_name};
use fwxdp_tests::packet::{
    ACK, ARP_REPLY, ARP_REQUEST, ETH_HLEN, ETH_MIN_FRAME, FIN, FrameBuilder, ICMP_ECHO_REQUEST,
    ICMPV6_ECHO_REQUEST, IPPROTO_AH, IPPROTO_DSTOPTS, IPPROTO_FRAGMENT, IPPROTO_HOPOPTS,
    IPPROTO_ROUTING, PSH, RST, SYN, TPID_8021AD, TPID_8021Q,
};

const XDP_ABORTED: u32 = 0;
const XDP_DROP: u32 = 1;
const XDP_PASS: u32 = 2;
/// `TC_ACT_UNSPEC` (-1) as the kernel reports it.
const TC_ACT_UNSPEC: u32 = u32::MAX;
const TC_ACT_SHOT: u32 = 2;

/// The policy most tests run under: TCP and UDP ports, a TCP-only range, a UDP-only port, and
/// a port open to one network per family.
const POLICY: &str = "80,443,8000-8100/tcp,53/udp,5432@10.0.0.0/8,22@2001:db8::/32";

const REMOTE4: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 10);
const LOCAL4: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);
/// Outside `2001:db8::/32`, which the policy admits on port 22.
const REMOTE6: Ipv6Addr = Ipv6Addr::new(0x3fff, 0, 0, 0, 0, 0, 0, 0x10);
const LOCAL6: Ipv6Addr = Ipv6Addr::new(0x3fff, 1, 0, 0, 0, 0, 0, 1);
const EPHEMERAL: u16 = 40_000;

// ---------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------

/// What the program did with a frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Action {
    Pass,
    Drop,
    Aborted,
    Unknown(u32),
}

impl Action {
    const fn from_xdp(value: u32) -> Self {
        match value {
            XDP_PASS => Self::Pass,
            XDP_DROP => Self::Drop,
            XDP_ABORTED => Self::Aborted,
            other => Self::Unknown(other),
        }
    }
}

/// The expected (or observed) verdict: the action, the reason counted, and the (proto, port)
/// charged with a drop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Verdict {
    action: Action,
    reason: Reason,
    port: Option<(Proto, u16)>,
}

const fn pass(reason: Reason) -> Verdict {
    Verdict {
        action: Action::Pass,
        reason,
        port: None,
    }
}

const fn dropped(reason: Reason) -> Verdict {
    Verdict {
        action: Action::Drop,
        reason,
        port: None,
    }
}

const ALLOWED: Verdict = pass(Reason::Allowed);
const ALLOWED_CIDR: Verdict = pass(Reason::AllowedCidr);
const ESTABLISHED: Verdict = pass(Reason::Established);
const OTHER: Verdict = pass(Reason::Other);
const LOOPBACK: Verdict = dropped(Reason::Loopback);
const MALFORMED: Verdict = dropped(Reason::Malformed);

const fn port_drop(proto: Proto, port: u16) -> Verdict {
    Verdict {
        action: Action::Drop,
        reason: Reason::Port,
        port: Some((proto, port)),
    }
}

fn require_root() {
    // SAFETY: geteuid has no preconditions and cannot fail.
    let euid = unsafe { libc::geteuid() };
    assert_eq!(
        euid, 0,
        "the verdict tests load BPF programs and need root (euid is {euid}): run them as root, \
         e.g. `sudo -E cargo test -p fwxdp-tests --test verdict`"
    );
}

fn policy(allow: &str) -> Policy {
    Policy::parse(&[allow]).unwrap_or_else(|e| panic!("bad test policy {allow:?}: {e}"))
}

/// One loaded instance of the BPF object with its own maps.
struct Filter {
    loaded: Loaded,
}

impl Filter {
    /// Loads the object with `allow` in generation 0.
    fn new(allow: &str) -> Self {
        Self::with_config(allow, &Config::default())
    }

    fn with_config(allow: &str, config: &Config) -> Self {
        require_root();
        let loaded = Loaded::new(&policy(allow), config, None)
            .unwrap_or_else(|e| panic!("cannot load the BPF object: {e} ({e:?})"));
        Self { loaded }
    }

    /// Runs the XDP program on `frame`, returning the kernel's answer as is.
    fn run_xdp(&mut self, frame: &[u8]) -> Result<u32, ProgramError> {
        let xdp = self.loaded.xdp().expect("load the XDP program");
        xdp.test_run(TestRunOptions {
            data_in: Some(frame),
            ..Default::default()
        })
        .map(|result| result.return_value)
    }

    fn run_tc(&mut self, name: &'static str, frame: &[u8]) -> u32 {
        let tc = self
            .loaded
            .tc(name)
            .unwrap_or_else(|e| panic!("load {name}: {e}"));
        tc.test_run(TestRunOptions {
            data_in: Some(frame),
            ..Default::default()
        })
        .unwrap_or_else(|e| panic!("test run of {name}: {e}"))
        .return_value
    }

    fn totals(&self) -> Totals {
        self.loaded.counters.totals().expect("read the counters")
    }

    /// Runs `frame` through XDP and reads back what it counted, checking that exactly one
    /// reason was charged one packet of the frame's length, and for a port drop exactly one
    /// (proto, port).
    fn judge(&mut self, label: &str, frame: &[u8]) -> Verdict {
        let before = self.totals();
        let value = self
            .run_xdp(frame)
            .unwrap_or_else(|e| panic!("{label}: test run failed: {e}"));
        let action = Action::from_xdp(value);
        assert_ne!(
            action,
            Action::Aborted,
            "{label}: the program aborted on {}",
            hex(frame)
        );
        counted(label, frame.len(), &before, &self.totals(), action)
    }

    /// Asserts the verdict on `frame`.
    #[track_caller]
    fn expect(&mut self, label: &str, frame: &[u8], expected: Verdict) {
        let got = self.judge(label, frame);
        assert_eq!(
            got,
            expected,
            "{label}: wrong verdict on a {}-byte frame {}",
            frame.len(),
            hex(frame)
        );
    }

    /// Runs the egress flow tracker on an outbound frame; it never drops and counts nothing.
    fn record_outbound(&mut self, frame: &[u8]) {
        let before = self.totals();
        let value = self.run_tc(program_name::TC_EGRESS, frame);
        assert_eq!(
            value, TC_ACT_UNSPEC,
            "the egress program lets every frame go"
        );
        assert_eq!(before, self.totals(), "the egress program counts nothing");
    }

    fn port_drops(&self, proto: Proto, port: u16) -> Counter {
        self.totals()
            .port_drops
            .iter()
            .find(|(p, n, _)| (*p, *n) == (proto, port))
            .map_or_else(Counter::default, |(_, _, c)| *c)
    }

    fn reason(&self, reason: Reason) -> Counter {
        self.totals()
            .reasons
            .iter()
            .find(|(r, _)| *r == reason)
            .map_or_else(Counter::default, |(_, c)| *c)
    }

    fn set_config(&mut self, config: &Config) {
        self.loaded.policy.set_config(config).expect("set config");
    }
}

fn diff(after: Counter, before: Counter) -> Counter {
    Counter {
        packets: after.packets - before.packets,
        bytes: after.bytes - before.bytes,
    }
}

/// The verdict that the counters of one run say, checked for exactness.
fn counted(label: &str, len: usize, before: &Totals, after: &Totals, action: Action) -> Verdict {
    let one = Counter {
        packets: 1,
        bytes: u64::try_from(len).unwrap(),
    };
    let reasons: Vec<(Reason, Counter)> = before
        .reasons
        .iter()
        .zip(&after.reasons)
        .map(|((reason, b), (_, a))| (*reason, diff(*a, *b)))
        .filter(|(_, d)| *d != Counter::default())
        .collect();
    let [(reason, count)] = reasons[..] else {
        panic!("{label}: expected one reason counted, got {reasons:?}");
    };
    assert_eq!(count, one, "{label}: reason {reason:?} counted wrongly");

    let old: BTreeMap<(Proto, u16), Counter> = before
        .port_drops
        .iter()
        .map(|(p, n, c)| ((*p, *n), *c))
        .collect();
    let ports: Vec<((Proto, u16), Counter)> = after
        .port_drops
        .iter()
        .map(|(p, n, c)| {
            let was = old.get(&(*p, *n)).copied().unwrap_or_default();
            ((*p, *n), diff(*c, was))
        })
        .filter(|(_, d)| *d != Counter::default())
        .collect();
    let port = match ports[..] {
        [] => None,
        [(key, count)] => {
            assert_eq!(count, one, "{label}: drop of {key:?} counted wrongly");
            Some(key)
        }
        _ => panic!("{label}: several ports charged: {ports:?}"),
    };
    assert_eq!(
        before.port_overflow, after.port_overflow,
        "{label}: the port overflow counter moved"
    );
    Verdict {
        action,
        reason,
        port,
    }
}

fn hex(frame: &[u8]) -> String {
    frame.iter().fold(String::new(), |mut out, b| {
        let _ = write!(out, "{b:02x}");
        out
    })
}

fn syn4(src: Ipv4Addr, dst_port: u16) -> FrameBuilder {
    FrameBuilder::tcp_v4(src, LOCAL4, EPHEMERAL, dst_port, SYN)
}

fn syn6(src: Ipv6Addr, dst_port: u16) -> FrameBuilder {
    FrameBuilder::tcp_v6(src, LOCAL6, EPHEMERAL, dst_port, SYN)
}

fn udp4(src: Ipv4Addr, dst_port: u16) -> FrameBuilder {
    FrameBuilder::udp_v4(src, LOCAL4, EPHEMERAL, dst_port, b"datagram")
}

fn udp6(src: Ipv6Addr, dst_port: u16) -> FrameBuilder {
    FrameBuilder::udp_v6(src, LOCAL6, EPHEMERAL, dst_port, b"datagram")
}

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
fn other_transport_protocols_pass() {
    let mut f = Filter::new(POLICY);
    // SCTP carries ports too, but the filter judges TCP and UDP only.
    let ports = [0x9c, 0x40, 0x0c, 0xea, 0, 0, 0, 0];
    for protocol in [47, 50, 132] {
        let v4 = FrameBuilder::raw_v4(REMOTE4, LOCAL4, protocol)
            .payload(&ports)
            .build();
        let v6 = FrameBuilder::raw_v6(REMOTE6, LOCAL6, protocol)
            .payload(&ports)
            .build();
        f.expect(&format!("v4 protocol {protocol}"), &v4, OTHER);
        f.expect(&format!("v6 protocol {protocol}"), &v6, OTHER);
    }
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

// ---------------------------------------------------------------------------------------
// Layers in front of the ports: VLAN tags, IPv4 options, IPv6 extension headers, fragments
// ---------------------------------------------------------------------------------------

#[test]
fn vlan_tagged_frames_are_judged_by_port() {
    let mut f = Filter::new(POLICY);
    let tags: [&[(u16, u16)]; 4] = [
        &[(TPID_8021Q, 10)],
        &[(TPID_8021AD, 100), (TPID_8021Q, 10)],
        &[(TPID_8021Q, 100), (TPID_8021Q, 10)],
        &[(TPID_8021AD, 4095)],
    ];
    for tags in tags {
        let tag = |b: FrameBuilder| tags.iter().fold(b, |b, &(tpid, vid)| b.vlan(tpid, vid));
        let label = format!("{tags:x?}");
        let drop = port_drop(Proto::Tcp, 3306);
        f.expect(
            &format!("{label} v4 SYN 3306"),
            &tag(syn4(REMOTE4, 3306)).build(),
            drop,
        );
        f.expect(
            &format!("{label} v6 SYN 3306"),
            &tag(syn6(REMOTE6, 3306)).build(),
            drop,
        );
        f.expect(
            &format!("{label} v4 SYN 80"),
            &tag(syn4(REMOTE4, 80)).build(),
            ALLOWED,
        );
        let udp = tag(udp6(REMOTE6, 5353)).build();
        f.expect(
            &format!("{label} v6 UDP 5353"),
            &udp,
            port_drop(Proto::Udp, 5353),
        );
    }
}

#[test]
fn three_vlan_tags_are_malformed() {
    let mut f = Filter::new(POLICY);
    let three = |b: FrameBuilder| {
        b.vlan(TPID_8021AD, 1)
            .vlan(TPID_8021Q, 2)
            .vlan(TPID_8021Q, 3)
            .build()
    };
    f.expect("SYN to 3306", &three(syn4(REMOTE4, 3306)), MALFORMED);
    f.expect("SYN to 80", &three(syn4(REMOTE4, 80)), MALFORMED);
    f.expect("v6 SYN to 80", &three(syn6(REMOTE6, 80)), MALFORMED);
}

#[test]
fn ipv4_options_do_not_hide_the_ports() {
    let mut f = Filter::new(POLICY);
    // Record route (7) with room for one address, then NOPs; and a full 40 bytes.
    let options: [&[u8]; 3] = [&[7, 7, 4, 0, 0, 0, 0, 1], &[1; 40], &[1, 1, 1]];
    for bytes in options {
        let label = format!("{} bytes of options", bytes.len().next_multiple_of(4));
        let drop = syn4(REMOTE4, 3306).ipv4_options(bytes).build();
        f.expect(
            &format!("{label}, SYN 3306"),
            &drop,
            port_drop(Proto::Tcp, 3306),
        );
        let pass = syn4(REMOTE4, 80).ipv4_options(bytes).build();
        f.expect(&format!("{label}, SYN 80"), &pass, ALLOWED);
        let udp = udp4(REMOTE4, 5353).ipv4_options(bytes).build();
        f.expect(
            &format!("{label}, UDP 5353"),
            &udp,
            port_drop(Proto::Udp, 5353),
        );
    }
}

#[test]
fn ipv4_header_fields_that_hide_the_ports_are_malformed() {
    let mut f = Filter::new(POLICY);
    let base = syn4(REMOTE4, 80).build();
    for ihl in 0..5 {
        let mut frame = base.clone();
        frame[ETH_HLEN] = 0x40 | ihl;
        f.expect(&format!("IHL {ihl}"), &frame, MALFORMED);
    }
    let mut frame = base.clone();
    frame[ETH_HLEN] = 0x65;
    f.expect("version 6 in an IPv4 EtherType", &frame, MALFORMED);
    // IHL 15 claims 40 bytes of options: the TCP header is read as options and the frame ends.
    let mut frame = base;
    frame[ETH_HLEN] = 0x4f;
    f.expect("IHL 15 without options", &frame, MALFORMED);
}

#[test]
fn ipv4_first_fragment_is_judged_by_its_ports() {
    let mut f = Filter::new(POLICY);
    let first = |b: FrameBuilder| b.ipv4_fragment(0, true).payload(&[0; 64]).build();
    f.expect(
        "SYN 3306",
        &first(syn4(REMOTE4, 3306)),
        port_drop(Proto::Tcp, 3306),
    );
    f.expect("SYN 80", &first(syn4(REMOTE4, 80)), ALLOWED);
    f.expect(
        "UDP 5353",
        &first(udp4(REMOTE4, 5353)),
        port_drop(Proto::Udp, 5353),
    );
    f.expect("UDP 53", &first(udp4(REMOTE4, 53)), ALLOWED);
}

#[test]
fn ipv4_later_fragments_pass() {
    let mut f = Filter::new(POLICY);
    for (offset, more) in [(1, true), (1, false), (185, true), (8191, false)] {
        // The bytes after the IP header are fragment data that happens to look like a SYN.
        let frame = syn4(REMOTE4, 3306).ipv4_fragment(offset, more).build();
        f.expect(&format!("offset {offset}, more {more}"), &frame, OTHER);
    }
}

#[test]
fn ipv4_first_fragment_too_short_for_the_transport_header_is_malformed() {
    let mut f = Filter::new(POLICY);
    for len in [0, 2, 4, 8, 16, 19] {
        let frame = syn4(REMOTE4, 80)
            .ipv4_fragment(0, true)
            .truncate_transport(len)
            .build();
        f.expect(&format!("{len} bytes of TCP"), &frame, MALFORMED);
    }
    for len in [0, 4, 7] {
        let frame = udp4(REMOTE4, 53)
            .ipv4_fragment(0, true)
            .truncate_transport(len)
            .build();
        f.expect(&format!("{len} bytes of UDP"), &frame, MALFORMED);
    }
}

/// RFC 1858's tiny fragment: the first fragment carries 8 bytes of TCP header, so the ports
/// but not the flags; the SYN arrives in the second fragment, which passes as a later
/// fragment. On the wire the 42-byte frame is padded to 60, and the padding must not be read
/// as the rest of the TCP header.
#[test]
fn ipv4_tiny_first_fragment_padded_to_the_ethernet_minimum_is_malformed() {
    let mut f = Filter::new(POLICY);
    let frame = syn4(REMOTE4, 3306)
        .ipv4_fragment(0, true)
        .truncate_transport(8)
        .pad_to(ETH_MIN_FRAME)
        .build();
    f.expect("8 bytes of TCP, padded", &frame, MALFORMED);
}

/// The IPv4 total length, not the end of the frame, bounds the transport header: Ethernet
/// padding is not part of the packet.
#[test]
fn an_ipv4_transport_header_cut_by_the_total_length_is_malformed() {
    let mut f = Filter::new(POLICY);
    let frame = syn4(REMOTE4, 3306)
        .truncate_transport(8)
        .pad_to(ETH_MIN_FRAME)
        .build();
    f.expect("unfragmented, 8 bytes of TCP, padded", &frame, MALFORMED);
}

/// The IPv6 payload length, not the end of the frame, bounds the transport header: trailing
/// bytes are not part of the packet.
#[test]
fn an_ipv6_transport_header_cut_by_the_payload_length_is_malformed() {
    let mut f = Filter::new(POLICY);
    let mut frame = syn6(REMOTE6, 3306)
        .ipv6_fragment(0, true)
        .truncate_transport(8)
        .build();
    frame.extend_from_slice(&[0; 12]);
    f.expect(
        "first fragment, 8 bytes of TCP, 12 trailing bytes",
        &frame,
        MALFORMED,
    );
}

#[test]
fn ipv6_fragment_header_with_offset_zero_is_judged() {
    let mut f = Filter::new(POLICY);
    for more in [true, false] {
        let first = |b: FrameBuilder| b.ipv6_fragment(0, more).build();
        let label = format!("offset 0, more {more}");
        let drop = port_drop(Proto::Tcp, 3306);
        f.expect(
            &format!("{label}, SYN 3306"),
            &first(syn6(REMOTE6, 3306)),
            drop,
        );
        f.expect(
            &format!("{label}, SYN 80"),
            &first(syn6(REMOTE6, 80)),
            ALLOWED,
        );
        let udp = first(udp6(REMOTE6, 5353));
        f.expect(
            &format!("{label}, UDP 5353"),
            &udp,
            port_drop(Proto::Udp, 5353),
        );
    }
    let first = syn6(REMOTE6, 80)
        .ipv6_fragment(0, true)
        .truncate_transport(8)
        .build();
    f.expect("first fragment with 8 bytes of TCP", &first, MALFORMED);
}

#[test]
fn ipv6_later_fragments_pass() {
    let mut f = Filter::new(POLICY);
    for (offset, more) in [(1, true), (1, false), (100, true), (8191, false)] {
        let frame = syn6(REMOTE6, 3306).ipv6_fragment(offset, more).build();
        f.expect(&format!("offset {offset}, more {more}"), &frame, OTHER);
        let behind_hbh = syn6(REMOTE6, 3306)
            .ipv6_ext(IPPROTO_HOPOPTS, 8)
            .ipv6_fragment(offset, more)
            .build();
        f.expect(&format!("after HBH, offset {offset}"), &behind_hbh, OTHER);
    }
}

const HBH: u8 = IPPROTO_HOPOPTS;
const RT: u8 = IPPROTO_ROUTING;
const DST: u8 = IPPROTO_DSTOPTS;
const AH: u8 = IPPROTO_AH;
const FRAG: u8 = IPPROTO_FRAGMENT;

/// Extension header chains as (kind, length) lists; a fragment header is (FRAG, 8).
fn with_chain(builder: FrameBuilder, chain: &[(u8, usize)]) -> FrameBuilder {
    chain.iter().fold(builder, |b, &(kind, len)| match kind {
        FRAG => b.ipv6_fragment(0, true),
        _ => b.ipv6_ext(kind, len),
    })
}

#[test]
fn ipv6_extension_headers_do_not_hide_the_ports() {
    let mut f = Filter::new(POLICY);
    let chains: [&[(u8, usize)]; 11] = [
        &[(HBH, 8)],
        &[(HBH, 2048)],
        &[(DST, 256)],
        &[(RT, 24)],
        &[(AH, 12)],
        &[(AH, 1028)],
        &[(HBH, 8), (DST, 16), (RT, 24), (AH, 24)],
        &[(HBH, 8), (RT, 8), (FRAG, 8), (AH, 16), (DST, 8)],
        // Eight headers: as many as the walk takes.
        &[
            (HBH, 8),
            (DST, 8),
            (RT, 8),
            (AH, 12),
            (DST, 8),
            (RT, 16),
            (AH, 16),
            (DST, 8),
        ],
        &[
            (HBH, 8),
            (DST, 8),
            (RT, 8),
            (RT, 8),
            (AH, 12),
            (DST, 8),
            (FRAG, 8),
            (DST, 8),
        ],
        &[
            (HBH, 64),
            (DST, 512),
            (RT, 256),
            (AH, 1028),
            (DST, 8),
            (RT, 8),
            (AH, 12),
            (DST, 64),
        ],
    ];
    for chain in chains {
        let label = format!("{chain:?}");
        let drop = with_chain(syn6(REMOTE6, 3306), chain).build();
        f.expect(
            &format!("{label}, SYN 3306"),
            &drop,
            port_drop(Proto::Tcp, 3306),
        );
        let pass = with_chain(syn6(REMOTE6, 80), chain).build();
        f.expect(&format!("{label}, SYN 80"), &pass, ALLOWED);
        let udp = with_chain(udp6(REMOTE6, 5353), chain).build();
        f.expect(
            &format!("{label}, UDP 5353"),
            &udp,
            port_drop(Proto::Udp, 5353),
        );
        let icmp = with_chain(FrameBuilder::icmp_v6(REMOTE6, LOCAL6, 128, 0), chain).build();
        f.expect(&format!("{label}, ICMPv6"), &icmp, OTHER);
    }
}

#[test]
fn an_ipv6_chain_longer_than_the_walk_is_malformed() {
    let mut f = Filter::new(POLICY);
    let chains: [&[(u8, usize)]; 3] = [
        &[
            (HBH, 8),
            (DST, 8),
            (RT, 8),
            (AH, 12),
            (DST, 8),
            (RT, 8),
            (AH, 12),
            (DST, 8),
            (DST, 8),
        ],
        &[
            (HBH, 8),
            (DST, 8),
            (RT, 8),
            (RT, 8),
            (RT, 8),
            (RT, 8),
            (RT, 8),
            (RT, 8),
            (FRAG, 8),
        ],
        &[(DST, 8); 12],
    ];
    for chain in chains {
        let label = format!("{} headers {chain:?}", chain.len());
        let syn = with_chain(syn6(REMOTE6, 80), chain).build();
        f.expect(&format!("{label}, SYN 80"), &syn, MALFORMED);
        let udp = with_chain(udp6(REMOTE6, 53), chain).build();
        f.expect(&format!("{label}, UDP 53"), &udp, MALFORMED);
    }
}

#[test]
fn an_ipv6_extension_header_running_past_the_end_is_malformed() {
    let mut f = Filter::new(POLICY);
    let ext = ETH_HLEN + 40;
    for (kind, len) in [(HBH, 8), (DST, 8), (RT, 8), (AH, 12)] {
        let mut frame = with_chain(syn6(REMOTE6, 80), &[(kind, len)]).build();
        // The length byte claims the most it can: 2048 bytes, or 1028 for AH.
        frame[ext + 1] = 255;
        f.expect(
            &format!("header {kind} claiming 255 units"),
            &frame,
            MALFORMED,
        );
    }
    // The second header of a chain claims 8 bytes more than remain.
    let mut frame = with_chain(syn6(REMOTE6, 80), &[(HBH, 8), (DST, 8)]).build();
    let remaining = frame.len() - (ext + 8);
    frame[ext + 9] = u8::try_from(remaining / 8).unwrap();
    f.expect("DST running 8 bytes past the end", &frame, MALFORMED);
}

// ---------------------------------------------------------------------------------------
// Truncated frames
// ---------------------------------------------------------------------------------------

/// Every cut of `frame` from the Ethernet header to one byte short: the program never
/// aborts; a cut inside the headers drops as malformed; a cut inside the payload keeps the
/// verdict of the whole frame.
fn check_truncations(f: &mut Filter, label: &str, builder: &FrameBuilder) {
    let frame = builder.build_frame();
    let whole = f.judge(label, &frame.bytes);
    for len in ETH_HLEN..frame.bytes.len() {
        let cut = &frame.bytes[..len];
        let expected = if len < frame.payload_offset {
            MALFORMED
        } else {
            whole
        };
        f.expect(&format!("{label} cut to {len} bytes"), cut, expected);
    }
}

#[test]
fn truncated_frames_never_abort_and_cut_headers_drop() {
    let mut f = Filter::new(POLICY);
    let payload = b"payload";
    for port in [3306, 80] {
        let builders = [
            ("v4 SYN", syn4(REMOTE4, port)),
            ("v6 SYN", syn6(REMOTE6, port)),
            ("v4 UDP", udp4(REMOTE4, port)),
            ("v6 UDP", udp6(REMOTE6, port)),
            (
                "two VLAN tags, v4 SYN",
                syn4(REMOTE4, port).vlan(TPID_8021AD, 1).vlan(TPID_8021Q, 2),
            ),
            ("VLAN, v6 SYN", syn6(REMOTE6, port).vlan(TPID_8021Q, 2)),
            (
                "v4 options, SYN",
                syn4(REMOTE4, port).ipv4_options(&[1; 12]),
            ),
            (
                "v6 extension headers, SYN",
                with_chain(
                    syn6(REMOTE6, port),
                    &[(HBH, 16), (FRAG, 8), (RT, 24), (AH, 12), (DST, 8)],
                ),
            ),
        ];
        for (label, builder) in builders {
            check_truncations(
                &mut f,
                &format!("{label} to {port}"),
                &builder.payload(payload),
            );
        }
    }
}

#[test]
fn frames_shorter_than_an_ethernet_header_are_refused_or_judged_without_abort() {
    let mut f = Filter::new(POLICY);
    let frame = syn4(REMOTE4, 3306).build();
    for len in 0..ETH_HLEN {
        if let Ok(value) = f.run_xdp(&frame[..len]) {
            assert_ne!(value, XDP_ABORTED, "{len}-byte frame: the program aborted");
            assert_ne!(value, XDP_PASS, "{len}-byte frame passed");
        }
    }
}

// ---------------------------------------------------------------------------------------
// Configuration: monitor mode, policy generations, the TC entry point
// ---------------------------------------------------------------------------------------

#[test]
fn monitor_mode_passes_everything_and_counts_the_verdict() {
    let monitor = Config {
        flags: CONFIG_MONITOR,
        ..Config::default()
    };
    let mut f = Filter::with_config(POLICY, &monitor);
    let watched = |v: Verdict| Verdict {
        action: Action::Pass,
        ..v
    };
    let syn = syn4(REMOTE4, 3306).build();
    f.expect("v4 SYN 3306", &syn, watched(port_drop(Proto::Tcp, 3306)));
    let udp = udp6(REMOTE6, 5353).build();
    f.expect("v6 UDP 5353", &udp, watched(port_drop(Proto::Udp, 5353)));
    let lo = FrameBuilder::tcp_v4([127, 0, 0, 1].into(), LOCAL4, 1, 80, SYN).build();
    f.expect("from loopback", &lo, watched(LOOPBACK));
    let three = syn4(REMOTE4, 80)
        .vlan(TPID_8021Q, 1)
        .vlan(TPID_8021Q, 2)
        .vlan(TPID_8021Q, 3)
        .build();
    f.expect("three VLAN tags", &three, watched(MALFORMED));
    f.expect("v4 SYN 80", &syn4(REMOTE4, 80).build(), ALLOWED);
    let bytes = u64::try_from(syn.len()).unwrap();
    assert_eq!(
        f.port_drops(Proto::Tcp, 3306),
        Counter { packets: 1, bytes }
    );

    // Leaving monitor mode makes the same verdict bite.
    f.set_config(&Config::default());
    f.expect("v4 SYN 3306, enforcing", &syn, port_drop(Proto::Tcp, 3306));
}

#[test]
fn a_new_policy_generation_changes_the_verdict_when_switched_in() {
    let mut f = Filter::new("80,5432@10.0.0.0/8");
    let syn_80 = syn4(REMOTE4, 80).build();
    let syn_3306 = syn4(REMOTE4, 3306).build();
    let from_10 = syn4(Ipv4Addr::new(10, 1, 1, 1), 5432).build();
    let from_11 = syn4(Ipv4Addr::new(11, 1, 1, 1), 5432).build();
    let check_generation_0 = |f: &mut Filter| {
        f.expect("gen 0, SYN 80", &syn_80, ALLOWED);
        f.expect("gen 0, SYN 3306", &syn_3306, port_drop(Proto::Tcp, 3306));
        f.expect("gen 0, 5432 from 10/8", &from_10, ALLOWED_CIDR);
        f.expect(
            "gen 0, 5432 from 11/8",
            &from_11,
            port_drop(Proto::Tcp, 5432),
        );
    };
    check_generation_0(&mut f);

    f.loaded
        .policy
        .write_generation(1, &policy("3306,5432@11.0.0.0/8"))
        .expect("write generation 1");
    // Written but not in force.
    check_generation_0(&mut f);

    let generation_1 = Config {
        generation: 1,
        ..Config::default()
    };
    f.set_config(&generation_1);
    assert_eq!(f.loaded.policy.config().expect("read config"), generation_1);
    f.expect("gen 1, SYN 80", &syn_80, port_drop(Proto::Tcp, 80));
    f.expect("gen 1, SYN 3306", &syn_3306, ALLOWED);
    f.expect(
        "gen 1, 5432 from 10/8",
        &from_10,
        port_drop(Proto::Tcp, 5432),
    );
    f.expect("gen 1, 5432 from 11/8", &from_11, ALLOWED_CIDR);

    f.set_config(&Config::default());
    check_generation_0(&mut f);
}

#[test]
fn a_policy_installed_in_generation_1_is_in_force() {
    let config = Config {
        generation: 1,
        ..Config::default()
    };
    let mut f = Filter::with_config("3306", &config);
    f.expect("SYN 3306", &syn4(REMOTE4, 3306).build(), ALLOWED);
    f.expect(
        "SYN 80",
        &syn4(REMOTE4, 80).build(),
        port_drop(Proto::Tcp, 80),
    );
}

#[test]
fn the_tc_ingress_program_gives_the_same_verdict() {
    let mut f = Filter::new(POLICY);
    let cases = [
        (syn4(REMOTE4, 3306).build(), TC_ACT_SHOT, Reason::Port),
        (syn6(REMOTE6, 80).build(), TC_ACT_UNSPEC, Reason::Allowed),
        (udp4(REMOTE4, 53).build(), TC_ACT_UNSPEC, Reason::Allowed),
        (
            FrameBuilder::arp(ARP_REQUEST, REMOTE4, LOCAL4).build(),
            TC_ACT_UNSPEC,
            Reason::Other,
        ),
        (
            syn4(REMOTE4, 80)
                .vlan(TPID_8021Q, 1)
                .vlan(TPID_8021Q, 2)
                .vlan(TPID_8021Q, 3)
                .build(),
            TC_ACT_SHOT,
            Reason::Malformed,
        ),
    ];
    for (frame, action, reason) in cases {
        let before = f.reason(reason);
        let value = f.run_tc(program_name::TC_INGRESS, &frame);
        assert_eq!(value, action, "{reason:?}: TC action on {}", hex(&frame));
        let after = f.reason(reason);
        let len = u64::try_from(frame.len()).unwrap();
        assert_eq!(
            diff(after, before),
            Counter {
                packets: 1,
                bytes: len
            },
            "{reason:?}: counted by TC"
        );
    }
}
