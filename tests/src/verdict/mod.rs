//! The harness of the verdict tests (docs/DESIGN.md, "The verdict"): the real BPF object, loaded
//! with `Loaded::new` and run through `BPF_PROG_TEST_RUN` on synthetic frames, checked by
//! return value and counters.
//!
//! Every [`Filter`] is its own instance of the object, so its maps and counters are its own.

pub mod counters;
pub mod frames;
pub mod outcome;

use aya::programs::{ProgramError, TestRun, TestRunOptions};
use fwxdp::{attach::Loaded, policy::Policy, state::Totals};
use fwxdp_common::{Config, Counter, Proto, Reason, program_name};

use crate::verdict::{
    counters::counted,
    frames::hex,
    outcome::{Action, TC_ACT_UNSPEC, Verdict},
};

/// The policy most tests run under: TCP and UDP ports, a TCP-only range, a UDP-only port, and
/// a port open to one network per family.
pub const POLICY: &str = "80,443,8000-8100/tcp,53/udp,5432@10.0.0.0/8,22@2001:db8::/32";

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
