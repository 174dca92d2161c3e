//! What the program decides: its return values, and the verdict the tests expect or observe
//! (the action, the reason counted, and what a drop is charged to).

use fwxdp_common::{Proto, Reason};

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
    pub(crate) const fn from_xdp(value: u32) -> Self {
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
