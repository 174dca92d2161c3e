//! The harness of the verdict tests (docs/DESIGN.md, "The verdict"): the real BPF object, loaded
//! with `Loaded::new` and run through `BPF_PROG_TEST_RUN` on synthetic frames, checked by
//! return value and counters.
//!
//! Every [`Filter`] is its own instance of the object, so its maps and counters are its own.

use std::{
    collections::BTreeMap,
    fmt::Write as _,
    net::{Ipv4Addr, Ipv6Addr},
};

use aya::programs::{ProgramError, TestRun, TestRunOptions};
use fwxdp::{attach::Loaded, policy::Policy, state::Totals};
use fwxdp_common::{Config, Counter, Proto, Reason, program_name};

use crate::packet::{
    FrameBuilder, IPPROTO_AH, IPPROTO_DSTOPTS, IPPROTO_FRAGMENT, IPPROTO_HOPOPTS, IPPROTO_ROUTING,
    SYN,
};

/// `XDP_ABORTED`: the program hit a bug.
pub const XDP_ABORTED: u32 = 0;
/// `XDP_DROP`.
pub const XDP_DROP: u32 = 1;
/// `XDP_PASS`.
pub const XDP_PASS: u32 = 2;
/// `TC_ACT_UNSPEC` (-1) as the kernel reports it.
pub const TC_ACT_UNSPEC: u32 = u32::MAX;
/// `TC_ACT_SHOT`: the TC program drops the frame.
pub const TC_ACT_SHOT: u32 = 2;

/// The policy most tests run under: TCP and UDP ports, a TCP-only range, a UDP-only port, and
/// a port open to one network per family.
pub const POLICY: &str = "80,443,8000-8100/tcp,53/udp,5432@10.0.0.0/8,22@2001:db8::/32";

/// The remote IPv4 address most test frames come from.
pub const REMOTE4: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 10);
/// The local IPv4 address most test frames go to.
pub const LOCAL4: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);
/// Outside `2001:db8::/32`, which the policy admits on port 22.
pub const REMOTE6: Ipv6Addr = Ipv6Addr::new(0x3fff, 0, 0, 0, 0, 0, 0, 0x10);
/// The local IPv6 address most test frames go to.
pub const LOCAL6: Ipv6Addr = Ipv6Addr::new(0x3fff, 1, 0, 0, 0, 0, 0, 1);
/// The source port of most test frames, an ephemeral port.
pub const EPHEMERAL: u16 = 40_000;

/// What the program did with a frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// `XDP_PASS`.
    Pass,
    /// `XDP_DROP`.
    Drop,
    /// `XDP_ABORTED`.
    Aborted,
    /// A return value XDP does not define.
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
/// or IP protocol number charged with a drop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Verdict {
    /// What the program did.
    pub action: Action,
    /// The reason counted.
    pub reason: Reason,
    /// The (proto, port) charged with a drop, if any.
    pub port: Option<(Proto, u16)>,
    /// The IP protocol number charged with a drop of reason `protocol`, if any.
    pub protocol: Option<u8>,
    /// The port drop found the per-port table full and was summed in the protocol's overflow
    /// counter (`port` then holds the protocol and port 0).
    pub overflowed: bool,
}

const fn pass(reason: Reason) -> Verdict {
    Verdict {
        action: Action::Pass,
        reason,
        port: None,
        protocol: None,
        overflowed: false,
    }
}

const fn dropped(reason: Reason) -> Verdict {
    Verdict {
        action: Action::Drop,
        reason,
        port: None,
        protocol: None,
        overflowed: false,
    }
}

/// Passed by an allow rule.
pub const ALLOWED: Verdict = pass(Reason::Allowed);
/// Passed by an allow rule restricted to a source network.
pub const ALLOWED_CIDR: Verdict = pass(Reason::AllowedCidr);
/// Passed as part of a connection or flow under way.
pub const ESTABLISHED: Verdict = pass(Reason::Established);
/// Passed as traffic the filter does not judge.
pub const OTHER: Verdict = pass(Reason::Other);
/// Dropped for a loopback address on the wire.
pub const LOOPBACK: Verdict = dropped(Reason::Loopback);
/// Dropped as malformed.
pub const MALFORMED: Verdict = dropped(Reason::Malformed);

/// Dropped by the policy, charged to `port` of `proto`.
#[must_use]
pub const fn port_drop(proto: Proto, port: u16) -> Verdict {
    Verdict {
        action: Action::Drop,
        reason: Reason::Port,
        port: Some((proto, port)),
        protocol: None,
        overflowed: false,
    }
}

/// Dropped by a per-source rate limit, charged to `port` of `proto`.
#[must_use]
pub const fn ratelimit_drop(proto: Proto, port: u16) -> Verdict {
    Verdict {
        action: Action::Drop,
        reason: Reason::Ratelimit,
        port: Some((proto, port)),
        protocol: None,
        overflowed: false,
    }
}

/// Dropped as a packet of an IP protocol without ports, charged to its `number`.
#[must_use]
pub const fn protocol_drop(number: u8) -> Verdict {
    Verdict {
        action: Action::Drop,
        reason: Reason::Protocol,
        port: None,
        protocol: Some(number),
        overflowed: false,
    }
}

fn require_root() {
    // SAFETY: geteuid has no preconditions and cannot fail.
    let euid = unsafe { libc::geteuid() };
    assert_eq!(
        euid, 0,
        "the verdict tests load BPF programs and need root (euid is {euid}): run them as root, \
         e.g. `sudo -E cargo test -p fwxdp-tests --test 'verdict*'`"
    );
}

/// The network `text` (`203.0.113.0/24`, `2001:db8::/32`), for blocklist entries.
#[must_use]
pub fn net(text: &str) -> ipnet::IpNet {
    text.parse()
        .unwrap_or_else(|e| panic!("bad test network {text:?}: {e}"))
}

/// The policy `allow` parsed.
#[must_use]
pub fn policy(allow: &str) -> Policy {
    Policy::parse(&[allow]).unwrap_or_else(|e| panic!("bad test policy {allow:?}: {e}"))
}

/// One loaded instance of the BPF object with its own maps.
pub struct Filter {
    /// The loaded object: its programs and maps.
    pub loaded: Loaded,
}

impl Filter {
    /// Loads the object with `allow` in generation 0.
    #[must_use]
    pub fn new(allow: &str) -> Self {
        Self::with_config(allow, &Config::default())
    }

    /// Loads the object with `allow` and `config`.
    #[must_use]
    pub fn with_config(allow: &str, config: &Config) -> Self {
        Self::with_policy(&policy(allow), config)
    }

    /// Loads the object with `allow` and the rate limits `limit` (`22/tcp=4/60s,...`).
    #[must_use]
    pub fn with_limits(allow: &str, limit: &str) -> Self {
        let policy = Policy::parse_with_limits(&[allow], &[limit])
            .unwrap_or_else(|e| panic!("bad test policy {allow:?} / {limit:?}: {e}"));
        Self::with_policy(&policy, &Config::default())
    }

    /// Loads the object with `policy` and `config`.
    #[must_use]
    pub fn with_policy(policy: &Policy, config: &Config) -> Self {
        require_root();
        let loaded = Loaded::new(policy, config, None)
            .unwrap_or_else(|e| panic!("cannot load the BPF object: {e} ({e:?})"));
        Self { loaded }
    }

    /// Runs the XDP program on `frame`, returning the kernel's answer as is.
    pub fn run_xdp(&mut self, frame: &[u8]) -> Result<u32, ProgramError> {
        let xdp = self.loaded.xdp().expect("load the XDP program");
        xdp.test_run(TestRunOptions {
            data_in: Some(frame),
            ..Default::default()
        })
        .map(|result| result.return_value)
    }

    /// Runs the TC program `name` on `frame`, returning its action.
    pub fn run_tc(&mut self, name: &'static str, frame: &[u8]) -> u32 {
        self.try_run_tc(name, frame)
            .unwrap_or_else(|e| panic!("test run of {name}: {e}"))
    }

    /// Runs the TC program `name` on `frame`, returning the kernel's answer as is.
    pub fn try_run_tc(&mut self, name: &'static str, frame: &[u8]) -> Result<u32, ProgramError> {
        let tc = self
            .loaded
            .tc(name)
            .unwrap_or_else(|e| panic!("load {name}: {e:?}"));
        tc.test_run(TestRunOptions {
            data_in: Some(frame),
            ..Default::default()
        })
        .map(|result| result.return_value)
    }

    /// The counters as they stand.
    #[must_use]
    pub fn totals(&self) -> Totals {
        self.loaded.counters.totals().expect("read the counters")
    }

    /// Runs `frame` through XDP and reads back what it counted, checking that exactly one
    /// reason was charged one packet of the frame's length, and for a port drop exactly one
    /// (proto, port).
    pub fn judge(&mut self, label: &str, frame: &[u8]) -> Verdict {
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
    pub fn expect(&mut self, label: &str, frame: &[u8], expected: Verdict) {
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
    pub fn record_outbound(&mut self, frame: &[u8]) {
        let before = self.totals();
        let value = self.run_tc(program_name::TC_EGRESS, frame);
        assert_eq!(
            value, TC_ACT_UNSPEC,
            "the egress program lets every frame go"
        );
        assert_eq!(before, self.totals(), "the egress program counts nothing");
    }

    /// The drops charged to `port` of `proto` so far.
    #[must_use]
    pub fn port_drops(&self, proto: Proto, port: u16) -> Counter {
        self.totals()
            .port_drops
            .iter()
            .find(|t| (t.proto, t.port) == (proto, port))
            .map_or_else(Counter::default, |t| t.counter)
    }

    /// The packets and bytes counted under `reason` so far.
    #[must_use]
    pub fn reason(&self, reason: Reason) -> Counter {
        self.totals()
            .reasons
            .iter()
            .find(|(r, _)| *r == reason)
            .map_or_else(Counter::default, |(_, c)| *c)
    }

    /// Replaces the configuration in force.
    pub fn set_config(&mut self, config: &Config) {
        self.loaded.policy.set_config(config).expect("set config");
    }
}

/// What a counter gained between two readings.
#[must_use]
pub fn diff(after: Counter, before: Counter) -> Counter {
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
        .map(|t| ((t.proto, t.port), t.counter))
        .collect();
    let ports: Vec<((Proto, u16), Counter)> = after
        .port_drops
        .iter()
        .map(|t| {
            let was = old.get(&(t.proto, t.port)).copied().unwrap_or_default();
            ((t.proto, t.port), diff(t.counter, was))
        })
        .filter(|(_, d)| *d != Counter::default())
        .collect();
    let overflows: Vec<(Proto, Counter)> = before
        .port_overflow
        .iter()
        .zip(&after.port_overflow)
        .map(|((proto, b), (_, a))| (*proto, diff(*a, *b)))
        .filter(|(_, d)| *d != Counter::default())
        .collect();
    let old: BTreeMap<(Proto, u16), Counter> = before
        .limit_drops
        .iter()
        .map(|&(proto, port, c)| ((proto, port), c))
        .collect();
    let limited: Vec<((Proto, u16), Counter)> = after
        .limit_drops
        .iter()
        .map(|&(proto, port, c)| {
            let was = old.get(&(proto, port)).copied().unwrap_or_default();
            ((proto, port), diff(c, was))
        })
        .filter(|(_, d)| *d != Counter::default())
        .collect();
    let ports = match (&ports[..], &limited[..]) {
        (_, []) => ports,
        ([], [_]) => limited,
        _ => panic!("{label}: port and rate-limit drops charged: {ports:?}, {limited:?}"),
    };
    let (port, overflowed) = match (&ports[..], &overflows[..]) {
        ([], []) => (None, false),
        ([(key, count)], []) => {
            assert_eq!(*count, one, "{label}: drop of {key:?} counted wrongly");
            (Some(*key), false)
        }
        ([], [(proto, count)]) => {
            assert_eq!(
                *count, one,
                "{label}: overflow of {proto:?} counted wrongly"
            );
            (Some((*proto, 0)), true)
        }
        _ => panic!("{label}: several ports charged: {ports:?}, overflow {overflows:?}"),
    };
    let old: BTreeMap<u8, Counter> = before.protocol_drops.iter().copied().collect();
    let protocols: Vec<(u8, Counter)> = after
        .protocol_drops
        .iter()
        .map(|&(n, c)| (n, diff(c, old.get(&n).copied().unwrap_or_default())))
        .filter(|(_, d)| *d != Counter::default())
        .collect();
    let protocol = match protocols[..] {
        [] => None,
        [(number, count)] => {
            assert_eq!(
                count, one,
                "{label}: drop of protocol {number} counted wrongly"
            );
            Some(number)
        }
        _ => panic!("{label}: several protocols charged: {protocols:?}"),
    };
    Verdict {
        action,
        reason,
        port,
        protocol,
        overflowed,
    }
}

/// `frame` in hexadecimal, for failure messages.
#[must_use]
pub fn hex(frame: &[u8]) -> String {
    frame.iter().fold(String::new(), |mut out, b| {
        let _: std::fmt::Result = write!(out, "{b:02x}");
        out
    })
}

/// A SYN from `src` to `dst_port` of [`LOCAL4`].
pub fn syn4(src: Ipv4Addr, dst_port: u16) -> FrameBuilder {
    FrameBuilder::tcp_v4(src, LOCAL4, EPHEMERAL, dst_port, SYN)
}

/// A SYN from `src` to `dst_port` of [`LOCAL6`].
pub fn syn6(src: Ipv6Addr, dst_port: u16) -> FrameBuilder {
    FrameBuilder::tcp_v6(src, LOCAL6, EPHEMERAL, dst_port, SYN)
}

/// A UDP datagram from `src` to `dst_port` of [`LOCAL4`].
pub fn udp4(src: Ipv4Addr, dst_port: u16) -> FrameBuilder {
    FrameBuilder::udp_v4(src, LOCAL4, EPHEMERAL, dst_port, b"datagram")
}

/// A UDP datagram from `src` to `dst_port` of [`LOCAL6`].
pub fn udp6(src: Ipv6Addr, dst_port: u16) -> FrameBuilder {
    FrameBuilder::udp_v6(src, LOCAL6, EPHEMERAL, dst_port, b"datagram")
}

/// Hop-by-hop options, in [`with_chain`] lists.
pub const HBH: u8 = IPPROTO_HOPOPTS;
/// Routing header, in [`with_chain`] lists.
pub const RT: u8 = IPPROTO_ROUTING;
/// Destination options, in [`with_chain`] lists.
pub const DST: u8 = IPPROTO_DSTOPTS;
/// Authentication header, in [`with_chain`] lists.
pub const AH: u8 = IPPROTO_AH;
/// Fragment header, in [`with_chain`] lists.
pub const FRAG: u8 = IPPROTO_FRAGMENT;

/// Extension header chains as (kind, length) lists; a fragment header is (FRAG, 8).
pub fn with_chain(builder: FrameBuilder, chain: &[(u8, usize)]) -> FrameBuilder {
    chain.iter().fold(builder, |b, &(kind, len)| match kind {
        FRAG => b.ipv6_fragment(0, true),
        _ => b.ipv6_ext(kind, len),
    })
}
