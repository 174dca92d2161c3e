//! `cargo xtask fuzz [--frames N] [--seed S]`: the differential fuzz of the verdict. Random
//! frames, and mutations of frames like those the test suites build (flags, lengths, header
//! chains, fragments, tags, protocols), run through the loaded XDP program with `TestRun`
//! (and a sample through the TC program) and through the reference model
//! (`fwxdp_tests::model`), under several policies. Every disagreement is printed with the
//! frame in hex, enough to replay it (`--replay HEX --policy N`).
#![expect(
    unused_crate_dependencies,
    reason = "one package serves the test binaries and these tools; each needs only part of it"
)]

use std::{
    collections::BTreeSet,
    net::{IpAddr, Ipv4Addr, Ipv6Addr},
    process::ExitCode,
    time::Instant,
};

use aya::programs::ProgramError;
use fwxdp_common::{
    CONFIG_IP_FRAMES, Config, FAMILY_V4, FAMILY_V6, FlowKey, Proto, Reason, program_name,
};
use fwxdp_tests::{
    lab::{Lab, services},
    model::{Decision, Flow, World},
    packet::{
        ACK, FIN, FrameBuilder, IPPROTO_AH, IPPROTO_DSTOPTS, IPPROTO_HOPOPTS, IPPROTO_ROUTING, RST,
        SYN, TPID_8021AD, TPID_8021Q,
    },
    verdict::{Action, Filter, TC_ACT_SHOT, TC_ACT_UNSPEC, XDP_ABORTED, XDP_DROP, XDP_PASS, hex},
};

/// The policies every frame is judged under.
const POLICIES: &[&str] = &[
    "22",
    "80,443,8000-8100/tcp,53/udp,5432@10.0.0.0/8,22@2001:db8::/32",
    "5000/sctp,5300/udplite,6000-6010/dccp@192.0.2.0/24,ip:esp,ip:gre@203.0.113.0/24,ip:253",
    "1-65535,ip:4,ip:41",
    "1-1024/udp@::/0,3306/tcp@10.1.0.0/16,ip:vrrp@10.0.0.0/8,ip:ipv6@2001:db8::/32",
];

/// TCP ports with a listener in the namespace `TestRun` runs in.
const LISTENERS: [u16; 3] = [3306, 5432, 9];

const LOCAL4: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);
const LOCAL6: Ipv6Addr = Ipv6Addr::new(0x3fff, 1, 0, 0, 0, 0, 0, 1);
const SOURCES4: [Ipv4Addr; 6] = [
    Ipv4Addr::new(192, 0, 2, 10),
    Ipv4Addr::new(10, 1, 2, 3),
    Ipv4Addr::new(203, 0, 113, 9),
    Ipv4Addr::LOCALHOST,
    Ipv4Addr::new(192, 0, 2, 77),
    Ipv4Addr::new(10, 200, 0, 1),
];
const SOURCES6: [Ipv6Addr; 5] = [
    Ipv6Addr::new(0x3fff, 0, 0, 0, 0, 0, 0, 0x10),
    Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 5),
    Ipv6Addr::LOCALHOST,
    Ipv6Addr::new(0, 0, 0, 0, 0, 0xffff, 0x0a01, 0x0203),
    Ipv6Addr::new(0, 0, 0, 0, 0, 0xffff, 0x7f00, 0x0001),
];
const PORTS: [u16; 14] = [
    22, 80, 443, 53, 67, 68, 546, 547, 5432, 3306, 8050, 9, 40_000, 65_535,
];

/// A small, fast, reproducible generator (xorshift64*).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % u64::try_from(n.max(1)).unwrap_or(u64::MAX)).unwrap_or(0)
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())]
    }

    fn byte(&mut self) -> u8 {
        self.next().to_le_bytes()[0]
    }
}

/// A frame of the corpus and where its layers start (mutations aim at header fields).
struct Seed {
    bytes: Vec<u8>,
    network: usize,
    transport: usize,
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
fn ported(proto: Proto, src_port: u16, dst_port: u16) -> Vec<u8> {
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
fn corpus() -> Vec<Seed> {
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
    seeds.push(seed(&FrameBuilder::arp(1, LOCAL4, SOURCES4[0])));
    seeds
}

/// A frame to judge: a corpus frame with up to four mutations, or (one in sixteen) bytes
/// that are random past a plausible Ethernet header.
fn frame(rng: &mut Rng, corpus: &[Seed]) -> Vec<u8> {
    if rng.below(16) == 0 {
        let len = rng.below(160);
        let mut bytes: Vec<u8> = (0..len).map(|_| rng.byte()).collect();
        if len >= 14 {
            let ether_type: u16 = rng.pick(&[0x0800, 0x86dd, 0x8100, 0x88a8, 0x0806]);
            bytes[12..14].copy_from_slice(&ether_type.to_be_bytes());
        }
        return bytes;
    }
    let seed = &corpus[rng.below(corpus.len())];
    let mut bytes = seed.bytes.clone();
    for _ in 0..rng.below(5) {
        mutate(rng, seed, &mut bytes);
    }
    bytes
}

fn mutate(rng: &mut Rng, seed: &Seed, bytes: &mut Vec<u8>) {
    if bytes.is_empty() {
        return;
    }
    let (net, tr) = (seed.network, seed.transport);
    match rng.below(9) {
        // A header field: version/IHL, lengths, fragment, protocol/next header, hop limit.
        0 => {
            let at = net + rng.pick(&[0, 2, 3, 4, 5, 6, 7, 9]);
            if let Some(b) = bytes.get_mut(at) {
                *b = rng.byte();
            }
        }
        // The ports, or the TCP flags.
        1 => {
            let at = tr + rng.pick(&[0, 1, 2, 3, 13]);
            if let Some(b) = bytes.get_mut(at) {
                *b = rng.byte();
            }
        }
        2 => {
            let at = tr + 13;
            if let Some(b) = bytes.get_mut(at) {
                *b = rng.pick(&[SYN, ACK, SYN | ACK, RST, 0, 0xff]);
            }
        }
        3 => {
            let len = rng.below(bytes.len() + 1);
            bytes.truncate(len);
        }
        4 => {
            let at = rng.below(bytes.len());
            bytes[at] ^= 1 << rng.below(8);
        }
        5 => {
            let at = rng.below(bytes.len());
            bytes[at] = rng.byte();
        }
        // A VLAN tag, pushed in front of the EtherType.
        6 if bytes.len() >= 14 => {
            let tpid: u16 = rng.pick(&[TPID_8021Q, TPID_8021AD]);
            let mut tag = tpid.to_be_bytes().to_vec();
            tag.extend_from_slice(&[0, rng.byte()]);
            bytes.splice(12..12, tag);
        }
        7 => {
            for _ in 0..rng.below(64) {
                bytes.push(rng.byte());
            }
        }
        // The IPv4 protocol or IPv6 next header set to one the verdict knows.
        _ => {
            let at = if bytes.get(12..14) == Some(&[0x86, 0xdd][..]) {
                net + 6
            } else {
                net + 9
            };
            if let Some(b) = bytes.get_mut(at) {
                *b = rng.pick(&[
                    0, 1, 2, 4, 6, 17, 33, 41, 43, 44, 47, 50, 51, 58, 60, 132, 136,
                ]);
            }
        }
    }
}

/// The flows the host starts before the run (recorded through the real egress program):
/// a UDP query, an SCTP association, a GRE tunnel, each to a corpus source.
fn outbound(f: &mut Filter) -> BTreeSet<Flow> {
    let remote4 = SOURCES4[4];
    let remote6 = SOURCES6[0];
    let starts: Vec<(Vec<u8>, Flow)> = vec![
        (
            FrameBuilder::udp_v4(LOCAL4, remote4, 40_000, 53, b"q").build(),
            flow(17, LOCAL4.into(), remote4.into(), 40_000, 53),
        ),
        (
            FrameBuilder::raw_v4(LOCAL4, remote4, 132)
                .payload(&ported(Proto::Sctp, 40_000, 9000))
                .build(),
            flow(132, LOCAL4.into(), remote4.into(), 40_000, 9000),
        ),
        (
            FrameBuilder::raw_v4(LOCAL4, remote4, 47)
                .payload(&[0; 8])
                .build(),
            flow(47, LOCAL4.into(), remote4.into(), 0, 0),
        ),
        (
            FrameBuilder::udp_v6(LOCAL6, remote6, 40_000, 547, b"q").build(),
            flow(17, LOCAL6.into(), remote6.into(), 40_000, 547),
        ),
        (
            FrameBuilder::raw_v6(LOCAL6, remote6, 41)
                .payload(&[0; 8])
                .build(),
            flow(41, LOCAL6.into(), remote6.into(), 0, 0),
        ),
    ];
    let mut flows = BTreeSet::new();
    for (frame, flow) in starts {
        f.record_outbound(&frame);
        // The tracker leaves out flows from a port or protocol open to everyone.
        if f.loaded.flows.get(&key(&flow), 0).is_ok() {
            flows.insert(flow);
        }
    }
    flows
}

fn flow(protocol: u8, local: IpAddr, remote: IpAddr, local_port: u16, remote_port: u16) -> Flow {
    Flow {
        protocol,
        local,
        remote,
        local_port,
        remote_port,
    }
}

fn key(flow: &Flow) -> FlowKey {
    let mut key = FlowKey {
        local_port_be: flow.local_port.to_be(),
        remote_port_be: flow.remote_port.to_be(),
        protocol: flow.protocol,
        ..FlowKey::default()
    };
    match (flow.local, flow.remote) {
        (IpAddr::V4(l), IpAddr::V4(r)) => {
            key.family = FAMILY_V4;
            key.local_addr[..4].copy_from_slice(&l.octets());
            key.remote_addr[..4].copy_from_slice(&r.octets());
        }
        (IpAddr::V6(l), IpAddr::V6(r)) => {
            key.family = FAMILY_V6;
            key.local_addr = l.octets();
            key.remote_addr = r.octets();
        }
        _ => {}
    }
    key
}

struct Args {
    frames: u64,
    seed: u64,
    replay: Option<(Vec<u8>, usize)>,
    ip_frames: bool,
}

fn args() -> Result<Args, String> {
    let mut args = Args {
        frames: 1_000_000,
        seed: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_secs() | 1),
        replay: None,
        ip_frames: false,
    };
    let mut replay = None;
    let mut policy = 0;
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = || it.next().ok_or(format!("{arg} needs a value"));
        match arg.as_str() {
            "--frames" => args.frames = value()?.parse().map_err(|e| format!("--frames: {e}"))?,
            "--seed" => args.seed = value()?.parse().map_err(|e| format!("--seed: {e}"))?,
            "--replay" => replay = Some(unhex(&value()?)?),
            "--policy" => policy = value()?.parse().map_err(|e| format!("--policy: {e}"))?,
            "--ip-frames" => args.ip_frames = true,
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    if policy >= POLICIES.len() {
        return Err(format!("--policy: 0 to {}", POLICIES.len() - 1));
    }
    args.replay = replay.map(|frame| (frame, policy));
    Ok(args)
}

fn unhex(text: &str) -> Result<Vec<u8>, String> {
    (0..text.len())
        .step_by(2)
        .map(|i| {
            text.get(i..i + 2)
                .and_then(|b| u8::from_str_radix(b, 16).ok())
                .ok_or_else(|| format!("--replay: bad hex at {i}"))
        })
        .collect()
}

/// One policy's world and loaded program.
struct Case {
    index: usize,
    world: World,
    filter: Filter,
}

impl Case {
    /// Policy `index`; with `ip_frames`, as on a device without a link layer.
    fn new(index: usize, ip_frames: bool) -> Self {
        let config = Config {
            flags: if ip_frames { CONFIG_IP_FRAMES } else { 0 },
            ..Config::default()
        };
        let mut filter = Filter::with_config(POLICIES[index], &config);
        let mut world = World::new(POLICIES[index]);
        world.ip_frames = ip_frames;
        if !ip_frames {
            world.flows = outbound(&mut filter);
        }
        world.listeners = LISTENERS.into_iter().collect();
        Self {
            index,
            world,
            filter,
        }
    }

    fn refresh_flows(&mut self) {
        if self.world.ip_frames {
            return;
        }
        let flows = outbound(&mut self.filter);
        assert_eq!(flows, self.world.flows, "the same flows are recorded again");
    }

    /// Judges `frame` both ways; `full` also compares the reason and what was charged.
    /// Returns whether the kernel's test harness refused the frame for TC (IP frames too
    /// short for an IP header: the receive path hands them to the program, `TestRun` cannot).
    fn check(&mut self, frame: &[u8], full: bool, tc: bool) -> Result<bool, String> {
        // XDP's `TestRun` refuses frames shorter than an Ethernet header.
        if frame.len() < 14 {
            return Ok(false);
        }
        let model = self.world.judge(frame, 0);
        let want = if model.drop { XDP_DROP } else { XDP_PASS };
        if full {
            let got = self.filter.judge("fuzz", frame);
            let action = if model.drop {
                Action::Drop
            } else {
                Action::Pass
            };
            // A port drop beyond the per-port table is charged to its protocol's overflow.
            let port = if got.overflowed {
                model.port.map(|(proto, _)| (proto, 0))
            } else {
                model.port
            };
            let expected = (action, model.reason, port, model.protocol);
            if expected != (got.action, got.reason, got.port, got.protocol) {
                return Err(format!("model {model:?}, program {got:?}"));
            }
        } else {
            match self.filter.run_xdp(frame) {
                Ok(XDP_ABORTED) => return Err("the program aborted".to_owned()),
                Ok(value) if value == want => {}
                Ok(value) => return Err(format!("model {model:?}, program returned {value}")),
                Err(e) => return Err(format!("test run: {e}")),
            }
        }
        if tc {
            let want = if model.drop {
                TC_ACT_SHOT
            } else {
                TC_ACT_UNSPEC
            };
            match self.filter.try_run_tc(program_name::TC_INGRESS, frame) {
                Ok(got) if got == want => {}
                Ok(got) => return Err(format!("model {model:?}, TC program returned {got}")),
                Err(ProgramError::SyscallError(e))
                    if e.io_error.raw_os_error() == Some(libc::EINVAL) =>
                {
                    return Ok(true);
                }
                Err(e) => return Err(format!("TC test run: {e:?}")),
            }
        }
        Ok(false)
    }
}

/// `frame` from its IP header on (after the Ethernet header and any VLAN tags); a frame too
/// short for that stays as it is, random bytes to judge.
fn ip_part(frame: &[u8]) -> Vec<u8> {
    let mut at = 12;
    while frame
        .get(at..at + 2)
        .is_some_and(|t| t == [0x81, 0x00] || t == [0x88, 0xa8])
    {
        at += 4;
    }
    frame
        .get(at + 2..)
        .map_or_else(|| frame.to_vec(), <[u8]>::to_vec)
}

fn report(case: &Case, n: u64, frame: &[u8], why: &str) {
    println!(
        "DISAGREE policy {} ({:?}){} frame #{n}: {why}\n  --replay {} --policy {}{}",
        case.index,
        POLICIES[case.index],
        if case.world.ip_frames {
            " on an IP device"
        } else {
            ""
        },
        hex(frame),
        case.index,
        if case.world.ip_frames {
            " --ip-frames"
        } else {
            ""
        }
    );
}

fn main() -> ExitCode {
    let args = match args() {
        Ok(args) => args,
        Err(e) => {
            eprintln!("fwxdp-fuzz: {e}");
            return ExitCode::from(2);
        }
    };
    let lab = Lab::new();
    let _listeners: Vec<_> = LISTENERS
        .iter()
        .map(|&port| services::tcp(&lab.server, port))
        .collect();
    lab.server.within(|| run(&args))
}

fn run(args: &Args) -> ExitCode {
    if let Some((frame, policy)) = &args.replay {
        let mut case = Case::new(*policy, args.ip_frames);
        let decision: Decision = case.world.judge(frame, 0);
        println!("model: {decision:?}");
        return match case.check(frame, true, true) {
            Ok(_) => {
                println!("program agrees");
                ExitCode::SUCCESS
            }
            Err(why) => {
                println!("{why}");
                ExitCode::FAILURE
            }
        };
    }
    let corpus = corpus();
    // Every policy on an Ethernet device, and one on a device without a link layer, whose
    // frames are the same with the Ethernet header (and tags) cut off.
    let mut cases: Vec<Case> = (0..POLICIES.len()).map(|i| Case::new(i, false)).collect();
    cases.push(Case::new(1, true));
    let mut rng = Rng(args.seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
    let started = Instant::now();
    let (mut disagreements, mut drops, mut refused) = (0u64, 0u64, 0u64);
    let mut reasons = [0u64; fwxdp_common::REASON_COUNT as usize];
    for n in 0..args.frames {
        // Flows admit replies for two minutes after the host's last packet: send again, as
        // a host in a conversation does, long before that.
        if n % (1 << 18) == 0 && n > 0 {
            cases.iter_mut().for_each(Case::refresh_flows);
        }
        let mut frame = frame(&mut rng, &corpus);
        let case = &mut cases[usize::try_from(n).unwrap_or(0) % (POLICIES.len() + 1)];
        if case.world.ip_frames {
            frame = ip_part(&frame);
        }
        let model = case.world.judge(&frame, 0);
        drops += u64::from(model.drop);
        reasons[model.reason as usize] += 1;
        // A full comparison reads every counter: often at first, then more rarely, as the
        // per-port table fills with the ports random frames hit.
        let full = n % if n < 100_000 { 64 } else { 1024 } == 0;
        match case.check(&frame, full, n % 8 == 0) {
            Ok(tc_refused) => refused += u64::from(tc_refused),
            Err(why) => {
                disagreements += 1;
                if disagreements <= 20 {
                    report(case, n, &frame, &why);
                }
            }
        }
    }
    let took = started.elapsed();
    println!(
        "fuzz: {} frames (seed {}) under {} policies, and one on a device without a link \
         layer, in {:.1} s: {disagreements} disagreements (an abort counts as one); {drops} \
         dropped",
        args.frames,
        args.seed,
        POLICIES.len(),
        took.as_secs_f64()
    );
    let spread: Vec<String> = Reason::ALL
        .iter()
        .map(|r| format!("{} {}", r.name(), reasons[*r as usize]))
        .collect();
    println!("  verdicts: {}", spread.join(", "));
    println!(
        "  every 64th frame (1024th after the first 100,000) compared by reason and charge \
         too, every 8th through TC as well ({refused} of those refused by the kernel's test \
         harness for TC)"
    );
    if disagreements == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
