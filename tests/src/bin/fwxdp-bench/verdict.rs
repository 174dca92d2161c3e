//! The cost of one verdict, measured in the kernel with `BPF_PROG_TEST_RUN` on the real
//! program, next to a bare `XDP_DROP` program in the same run.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::Instant;

use aya::programs::{TestRun as _, TestRunOptions};
use fwxdp::{attach::Loaded, policy::Policy, state::Scope};
use fwxdp_common::Config;
use fwxdp_tests::{
    bare::BareXdp,
    lab::{CLIENT_V4, Lab, SERVER_V4},
    packet::{ACK, FrameBuilder, IPPROTO_DSTOPTS, IPPROTO_HOPOPTS, SYN},
};

const REPEAT: u32 = 1_000_000;
const CLIENT: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 10);
const INSIDE: Ipv4Addr = Ipv4Addr::new(10, 1, 2, 3);
const SERVER: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);
const CLIENT6: Ipv6Addr = Ipv6Addr::new(0x3fff, 0, 0, 0, 0, 0, 0, 0x10);
const SERVER6: Ipv6Addr = Ipv6Addr::new(0x3fff, 1, 0, 0, 0, 0, 0, 1);

/// The verdict's cost per frame for a small and a large policy, each row with its ratio to
/// a bare `XDP_DROP` program on the same frame.
pub(crate) fn table() {
    let small = "22,80,443,5432@10.0.0.0/8".to_owned();
    // A thousand open ports and 6,000 source-network entries (the limit is 8,192).
    let mut large: Vec<String> = (1000..2000).map(|p| p.to_string()).collect();
    large.push("22,80,443".to_owned());
    large.push("5432@10.0.0.0/8".to_owned());
    for (i, port) in (20_000u16..22_000).enumerate() {
        large.push(format!("{port}/tcp@10.{}.0.0/16", i % 250));
        large.push(format!("{port}@2001:db8:{i:x}::/48"));
    }
    let cases: [(&str, Vec<u8>); 7] = [
        ("tcp SYN, allowed port", syn(443).build()),
        ("tcp SYN, protected port (drop)", syn(3306).build()),
        (
            "tcp SYN, allowed source network",
            FrameBuilder::tcp_v4(INSIDE, SERVER, 40_000, 5432, SYN).build(),
        ),
        (
            "tcp ACK (established)",
            FrameBuilder::tcp_v4(CLIENT, SERVER, 40_000, 3306, ACK).build(),
        ),
        (
            "udp, protected port (flow lookup, drop)",
            FrameBuilder::udp_v4(CLIENT, SERVER, 40_000, 6379, b"x").build(),
        ),
        (
            "ipv6 tcp SYN, allowed port",
            FrameBuilder::tcp_v6(CLIENT6, SERVER6, 40_000, 443, SYN).build(),
        ),
        (
            "ipv6 SYN after 2 extension headers",
            FrameBuilder::tcp_v6(CLIENT6, SERVER6, 40_000, 3306, SYN)
                .ipv6_ext(IPPROTO_HOPOPTS, 8)
                .ipv6_ext(IPPROTO_DSTOPTS, 16)
                .build(),
        ),
    ];
    let small_ns = measure(&[small], &cases);
    let large_ns = measure(&large, &cases);
    let bare = BareXdp::drop_all().expect("load a bare XDP_DROP program");
    let bare_ns: Vec<u128> = cases
        .iter()
        .map(|(_, frame)| {
            bare.test_run(frame, 1000).expect("test run");
            bare.test_run(frame, REPEAT).expect("test run").as_nanos()
        })
        .collect();
    println!("verdict cost per packet (BPF_PROG_TEST_RUN, {REPEAT} runs each, XDP program)");
    println!("small: 3 open ports and 1 source network; large: 1,003 open ports and 6,000");
    println!("port/source-network entries\n");
    println!(
        "{:<42} {:>9} {:>15} {:>15}",
        "frame", "bare drop", "small policy", "large policy"
    );
    let ratio = |ns: u128, bare: u128| ns as f64 / bare.max(1) as f64;
    for (i, (name, _)) in cases.iter().enumerate() {
        println!(
            "{name:<42} {:>6} ns {:>5} ns {:>4.2}x {:>5} ns {:>4.2}x",
            bare_ns[i],
            small_ns[i],
            ratio(small_ns[i], bare_ns[i]),
            large_ns[i],
            ratio(large_ns[i], bare_ns[i])
        );
    }
}

/// What a per-source rate limit costs: a SYN to a limited port from a source over its limit
/// (the limit and the source's state looked up, dropped), next to a SYN to an open port
/// without a limit under the same policy.
pub(crate) fn limit_cost() {
    let policy = Policy::parse_with_limits(&["80"], &["22/tcp=4/60s"]).expect("bench policy");
    let cases = [
        ("tcp SYN, open port without a limit", syn(80).build()),
        (
            "tcp SYN, limited port, source over it (drop)",
            syn(22).build(),
        ),
    ];
    let ns = measure_policy(&policy, &cases);
    println!("\nper-source rate limit (22/tcp=4/60s), same run");
    for ((name, _), ns) in cases.iter().zip(ns) {
        println!("{name:<46} {ns:>7} ns");
    }
}

/// What the blocklist costs every packet: a SYN to an open port with an empty blocklist
/// (the flat verdict), with 100,000 blocked networks (IPv4 /32 and /24, IPv6 /64), and a
/// SYN from a blocked source, in the same run.
pub(crate) fn blocklist_cost() {
    const BLOCKED: u32 = 100_000;
    let policy = Policy::parse(&["22,80,443"]).expect("bench policy");
    let cases = [
        ("tcp SYN, open port", syn(443).build()),
        (
            "tcp SYN from a blocked source (drop)",
            FrameBuilder::tcp_v4(Ipv4Addr::new(100, 64, 0, 3), SERVER, 40_000, 443, SYN).build(),
        ),
    ];
    let empty = measure_policy(&policy, &cases[..1]);
    let mut loaded = Loaded::new(&policy, &Config::default(), None).expect("load the program");
    let started = Instant::now();
    for i in 0..BLOCKED {
        let net: ipnet::IpNet = blocked_network(i).parse().expect("a network");
        loaded
            .blocks
            .insert(&Scope::All, net, None)
            .expect("insert a block");
    }
    let filled = started.elapsed();
    let verdict = loaded
        .xdp()
        .expect("load XDP")
        .test_run(TestRunOptions {
            data_in: Some(&cases[1].1),
            ..TestRunOptions::default()
        })
        .expect("test run");
    assert_eq!(
        verdict.return_value, 1,
        "the blocked source is dropped (XDP_DROP)"
    );
    let full = measure_loaded(&mut loaded, &cases);
    println!(
        "\nblocklist, same run ({BLOCKED} networks written in {} ms)",
        filled.as_millis()
    );
    println!(
        "{:<46} {:>7} ns",
        "tcp SYN, open port, empty blocklist", empty[0]
    );
    for ((name, _), ns) in cases.iter().zip(full) {
        println!("{:<46} {ns:>7} ns", format!("{name}, {BLOCKED} blocked"));
    }
}

/// What the drop log costs a flood to a protected port: no log, the default rate (nearly
/// every drop over it, counted), and every drop logged (the ring fills and the rest are
/// counted lost: no reader runs), in the same run.
pub(crate) fn droplog_cost() {
    let policy = Policy::parse(&["22"]).expect("bench policy");
    let case = [("tcp SYN, protected port (drop)", syn(3306).build())];
    println!("\ndrop log, same run, a flood of SYNs to a protected port");
    for (label, log_rate) in [
        ("log off", 0),
        (
            "10 a second per CPU (the default)",
            fwxdp_common::LOG_RATE_DEFAULT,
        ),
        ("every drop (the ring fills)", u32::MAX),
    ] {
        let config = Config {
            log_rate,
            ..Config::default()
        };
        let mut loaded = Loaded::new(&policy, &config, None).expect("load the program");
        let ns = measure_loaded(&mut loaded, &case);
        println!("{label:<46} {:>7} ns", ns[0]);
    }
}

/// What the socket lookup costs the return traffic of the host's own outbound connections:
/// an ACK to the ephemeral port of a real connection (the lookup finds it), against an ACK
/// to a port open to everyone (no lookup), in the same run. `TestRun` runs in a lab's server
/// namespace, whose socket tables the lookup reads.
pub(crate) fn socket_lookup_cost() {
    let lab = Lab::new();
    let source = lab
        .internet
        .enter(|| std::net::TcpListener::bind(("0.0.0.0", 9000)).expect("bind"));
    let outbound = lab
        .server
        .enter(|| std::net::TcpStream::connect((CLIENT_V4, 9000)).expect("connect out"));
    let (_held, _) = source.accept().expect("accept");
    let ephemeral = outbound.local_addr().expect("local address").port();
    let cases = [
        (
            "tcp ACK to a port open to everyone",
            FrameBuilder::tcp_v4(CLIENT_V4, SERVER_V4, 9000, 443, ACK).build(),
        ),
        (
            "tcp ACK of an outbound connection (lookup)",
            FrameBuilder::tcp_v4(CLIENT_V4, SERVER_V4, 9000, ephemeral, ACK).build(),
        ),
        (
            "tcp ACK to a port nothing has (lookup)",
            FrameBuilder::tcp_v4(CLIENT_V4, SERVER_V4, 9000, 61_000, ACK).build(),
        ),
    ];
    let ns = lab
        .server
        .within(|| measure(&["22,443".to_owned()], &cases));
    println!("\nsocket lookup for TCP segments that are no SYN to a port not open to their source");
    for ((name, _), ns) in cases.iter().zip(ns) {
        println!("{name:<46} {ns:>7} ns");
    }
    drop(outbound);
}

/// The `i`-th of the benches' blocked networks, a third each IPv4 /32, IPv4 /24 and IPv6
/// /64; none holds a lab address (10.77.0.0/16) or the verdict bench's client.
pub(crate) fn blocked_network(i: u32) -> String {
    let [_, b, c, d] = i.to_be_bytes();
    match i % 3 {
        0 => format!("100.{}.{c}.{d}/32", 64 + b),
        1 => format!("{}.{c}.{d}.0/24", 1 + b),
        _ => format!("2001:db8:{b:x}{c:02x}:{d:x}::/64"),
    }
}

pub(crate) fn syn(port: u16) -> FrameBuilder {
    FrameBuilder::tcp_v4(CLIENT, SERVER, 40_000, port, SYN)
}

fn measure(allow: &[String], cases: &[(&str, Vec<u8>)]) -> Vec<u128> {
    let policy = Policy::parse(allow).unwrap_or_else(|e| panic!("bench policy: {e}"));
    measure_policy(&policy, cases)
}

fn measure_policy(policy: &Policy, cases: &[(&str, Vec<u8>)]) -> Vec<u128> {
    let mut loaded = Loaded::new(policy, &Config::default(), None).expect("load the program");
    measure_loaded(&mut loaded, cases)
}

fn measure_loaded(loaded: &mut Loaded, cases: &[(&str, Vec<u8>)]) -> Vec<u128> {
    let xdp = loaded.xdp().expect("load XDP");
    cases
        .iter()
        .map(|(name, frame)| {
            // Warm up (first insert into the per-port counters), then measure.
            let run = |repeat| {
                xdp.test_run(TestRunOptions {
                    data_in: Some(frame),
                    repeat,
                    ..TestRunOptions::default()
                })
                .unwrap_or_else(|e| panic!("{name}: {e}"))
            };
            run(1000);
            run(REPEAT).duration.as_nanos()
        })
        .collect()
}
