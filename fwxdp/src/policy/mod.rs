//! A validated allow policy: the allow-spec grammar ([`spec`]) and the protocol names it
//! knows ([`protocols`]), the policy it builds, its compilation into map entries and back
//! ([`compile`]), its canonical spec form ([`canonical`]), edits of a running one
//! ([`edit`]), and the guard against locking out the SSH session ([`lockout`]).
//!
//! The kernel side sees flags per port and per IP protocol, and an LPM trie of (port or
//! protocol, source network) entries; [`Policy`] is the canonical form of them, so `status`
//! can show exactly what the maps enforce.

pub mod canonical;
pub mod compile;
pub mod edit;
pub mod limit;
pub mod lockout;
pub mod protocols;
pub mod sessions;
pub mod spec;

use std::{
    collections::{BTreeMap, BTreeSet},
    net::IpAddr,
};

use fwxdp_common::{CIDRS_MAX_ENTRIES, GENERATIONS, LIMITS_MAX_ENTRIES, Limit, Proto};
use ipnet::IpNet;

use limit::{LimitError, LimitRule};
use spec::{AllowItem, SpecError};

/// CIDR entries one policy may hold: the trie holds two generations during a replacement.
pub const MAX_CIDR_ENTRIES: usize = (CIDRS_MAX_ENTRIES / GENERATIONS) as usize;
/// Limited (proto, port) pairs one policy may hold: the map holds two generations.
pub const MAX_LIMITS: usize = (LIMITS_MAX_ENTRIES / GENERATIONS) as usize;

const PORTS: usize = 1 << 16;

/// Why a list of rules cannot become a policy.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    #[error("{}", join_errors(.0))]
    Spec(Vec<SpecError>),
    #[error(
        "allow list needs {entries} source-network entries (one per port, protocol and \
         network); the limit is {MAX_CIDR_ENTRIES}: use narrower port ranges with @"
    )]
    TooManyCidrEntries { entries: usize },
    #[error("{}", join_errors(.0))]
    Limit(Vec<LimitError>),
    #[error(
        "limits cover {pairs} (protocol, port) pairs; the limit is {MAX_LIMITS}: use narrower \
         port ranges"
    )]
    TooManyLimits { pairs: usize },
}

fn join_errors<E: std::fmt::Display>(errors: &[E]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// Ports and protocols open to everyone, and source networks allowed per (proto, port) and
/// per protocol.
#[derive(Clone, PartialEq, Eq)]
pub struct Policy {
    /// [`Proto::allow_flag`] bits (only the allow bits), indexed by port.
    open: Vec<u16>,
    /// Source networks allowed where the port is not open to everyone.
    cidrs: BTreeSet<(Proto, u16, IpNet)>,
    /// IP protocols without ports open to everyone, by number.
    protocols: BTreeSet<u8>,
    /// Source networks allowed where the protocol is not open to everyone.
    protocol_cidrs: BTreeSet<(u8, IpNet)>,
    /// Per-source rate limits; a limited port is open to everyone (within the limit).
    limits: BTreeMap<(Proto, u16), Limit>,
}

impl std::fmt::Debug for Policy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.to_specs()).finish()
    }
}

impl Policy {
    /// A policy that allows nothing.
    #[must_use]
    pub fn deny_all() -> Self {
        Self {
            open: vec![0; PORTS],
            cidrs: BTreeSet::new(),
            protocols: BTreeSet::new(),
            protocol_cidrs: BTreeSet::new(),
            limits: BTreeMap::new(),
        }
    }

    /// Parses allow lists (each comma-separated) into a policy, reporting every bad item.
    pub fn parse<S: AsRef<str>>(lists: &[S]) -> Result<Self, PolicyError> {
        Self::parse_with_limits(lists, &[] as &[&str])
    }

    /// Parses allow lists and limit lists (`22/tcp=4/60s`, each comma-separated) into a
    /// policy, reporting every bad item of either.
    pub fn parse_with_limits<S: AsRef<str>, T: AsRef<str>>(
        lists: &[S],
        limit_lists: &[T],
    ) -> Result<Self, PolicyError> {
        let mut limits = Vec::new();
        let mut limit_errors = Vec::new();
        for list in limit_lists {
            match limit::parse_list(list.as_ref()) {
                Ok(parsed) => limits.extend(parsed),
                Err(bad) => limit_errors.extend(bad),
            }
        }
        let policy = Self::parse_allow(lists);
        if !limit_errors.is_empty() {
            // Both kinds of mistake in one run.
            return Err(match policy {
                Err(PolicyError::Spec(spec)) => PolicyError::Spec(spec),
                _ => PolicyError::Limit(limit_errors),
            });
        }
        policy?.with_limits(&limits)
    }

    fn parse_allow<S: AsRef<str>>(lists: &[S]) -> Result<Self, PolicyError> {
        let mut rules = Vec::new();
        let mut errors = Vec::new();
        for list in lists {
            match spec::parse_list(list.as_ref()) {
                Ok(parsed) => rules.extend(parsed),
                Err(bad) => errors.extend(bad),
            }
        }
        if !errors.is_empty() {
            return Err(PolicyError::Spec(errors));
        }
        Self::from_rules(&rules)
    }

    /// Builds the policy that the items describe.
    pub fn from_rules(items: &[AllowItem]) -> Result<Self, PolicyError> {
        let mut policy = Self::deny_all();
        let mut rules = Vec::new();
        for item in items {
            match *item {
                AllowItem::Ports(rule) => rules.push(rule),
                AllowItem::Protocol(rule) if rule.source.is_none() => {
                    policy.protocols.insert(rule.number);
                }
                AllowItem::Protocol(_) => {}
            }
        }
        for item in items {
            if let AllowItem::Protocol(rule) = item
                && let Some(source) = rule.source
                && !policy.protocols.contains(&rule.number)
            {
                policy.protocol_cidrs.insert((rule.number, source));
            }
        }
        for rule in rules.iter().filter(|r| r.source.is_none()) {
            for proto in rule.protos() {
                for port in rule.first..=rule.last {
                    policy.open[usize::from(port)] |= proto.allow_flag();
                }
            }
        }
        let mut entries = policy.protocol_cidrs.len();
        for rule in rules.iter().filter(|r| r.source.is_some()) {
            for proto in rule.protos() {
                entries += usize::from(rule.last - rule.first) + 1;
                if entries > MAX_CIDR_ENTRIES * 4 {
                    // Stop before building a huge set only to reject it.
                    return Err(PolicyError::TooManyCidrEntries { entries });
                }
                for port in rule.first..=rule.last {
                    if !policy.is_open(proto, port) {
                        policy
                            .cidrs
                            .insert((proto, port, rule.source.unwrap_or_default()));
                    }
                }
            }
        }
        let entries = policy.cidrs.len() + policy.protocol_cidrs.len();
        if entries > MAX_CIDR_ENTRIES {
            return Err(PolicyError::TooManyCidrEntries { entries });
        }
        Ok(policy)
    }

    /// This policy with `rules` added: each limited port becomes open to every source for
    /// its protocol, within the limit (a later rule for the same port wins). Source networks
    /// listed for a limited port no longer matter: the port is open.
    pub fn with_limits(mut self, rules: &[LimitRule]) -> Result<Self, PolicyError> {
        let mut pairs = self.limits.len();
        for rule in rules {
            pairs += usize::from(rule.last - rule.first) + 1;
            if pairs > MAX_LIMITS * 4 {
                return Err(PolicyError::TooManyLimits { pairs });
            }
            for port in rule.first..=rule.last {
                self.limits.insert((rule.proto, port), rule.limit);
                self.open[usize::from(port)] |= rule.proto.allow_flag();
            }
        }
        let limits = &self.limits;
        self.cidrs
            .retain(|(proto, port, _)| !limits.contains_key(&(*proto, *port)));
        if self.limits.len() > MAX_LIMITS {
            return Err(PolicyError::TooManyLimits {
                pairs: self.limits.len(),
            });
        }
        Ok(self)
    }

    /// The per-source limit on (`proto`, `port`), if it has one.
    #[must_use]
    pub fn limit(&self, proto: Proto, port: u16) -> Option<Limit> {
        self.limits.get(&(proto, port)).copied()
    }

    /// Whether `port` is open to every source for `proto`.
    #[must_use]
    pub fn is_open(&self, proto: Proto, port: u16) -> bool {
        self.open[usize::from(port)] & proto.allow_flag() != 0
    }

    /// The source networks (`proto`, `port`) is open to, when it is not open to everyone.
    #[must_use]
    pub fn sources(&self, proto: Proto, port: u16) -> Vec<IpNet> {
        self.cidrs
            .range((proto, port, IpNet::V4(ipnet::Ipv4Net::default()))..)
            .take_while(|&&(p, n, _)| p == proto && n == port)
            .map(|&(_, _, net)| net)
            .collect()
    }

    /// Whether a new connection from `source` to (`proto`, `port`) would pass.
    #[must_use]
    pub fn admits(&self, proto: Proto, port: u16, source: IpAddr) -> bool {
        let source = source.to_canonical();
        self.is_open(proto, port)
            || self
                .cidrs
                .iter()
                .any(|&(p, n, net)| p == proto && n == port && net.contains(&source))
    }

    /// Whether a packet of IP protocol `number` (one without ports) from `source` would pass.
    #[must_use]
    pub fn admits_protocol(&self, number: u8, source: IpAddr) -> bool {
        let source = source.to_canonical();
        self.protocols.contains(&number)
            || self
                .protocol_cidrs
                .iter()
                .any(|&(n, net)| n == number && net.contains(&source))
    }

    /// Number of ports open to every source for `proto`.
    #[must_use]
    pub fn open_port_count(&self, proto: Proto) -> usize {
        self.open
            .iter()
            .filter(|f| **f & proto.allow_flag() != 0)
            .count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admits_open_ports_and_listed_sources() {
        let p = Policy::parse(&["22/tcp,5432@10.0.0.0/8"]).unwrap();
        let addr = |s: &str| s.parse::<IpAddr>().unwrap();
        assert!(p.admits(Proto::Tcp, 22, addr("203.0.113.9")));
        assert!(!p.admits(Proto::Udp, 22, addr("203.0.113.9")));
        assert!(p.admits(Proto::Tcp, 5432, addr("10.1.2.3")));
        assert!(p.admits(Proto::Tcp, 5432, addr("::ffff:10.1.2.3")));
        assert!(!p.admits(Proto::Tcp, 5432, addr("11.1.2.3")));
    }

    #[test]
    fn admits_protocols_and_the_new_transports() {
        let p = Policy::parse(&["5000/sctp,ip:esp,ip:gre@203.0.113.0/24"]).unwrap();
        let addr = |s: &str| s.parse::<IpAddr>().unwrap();
        assert!(p.admits(Proto::Sctp, 5000, addr("198.51.100.1")));
        assert!(!p.admits(Proto::Tcp, 5000, addr("198.51.100.1")));
        assert!(!p.admits(Proto::UdpLite, 5000, addr("198.51.100.1")));
        assert!(p.admits_protocol(50, addr("198.51.100.1")));
        assert!(p.admits_protocol(47, addr("203.0.113.9")));
        assert!(!p.admits_protocol(47, addr("198.51.100.1")));
        assert!(!p.admits_protocol(4, addr("203.0.113.9")));
        // A bare port is TCP and UDP only.
        let p = Policy::parse(&["53"]).unwrap();
        assert!(p.admits(Proto::Udp, 53, addr("198.51.100.1")));
        assert!(!p.admits(Proto::UdpLite, 53, addr("198.51.100.1")));
    }

    #[test]
    fn too_many_cidr_entries_is_an_error() {
        let err = Policy::parse(&["1-65535@10.0.0.0/8"]).unwrap_err();
        assert!(
            matches!(err, PolicyError::TooManyCidrEntries { .. }),
            "{err}"
        );
        assert!(err.to_string().contains("limit is 8192"), "{err}");
        assert!(Policy::parse(&["1-4096@10.0.0.0/8"]).is_ok());
    }

    #[test]
    fn limits_open_their_ports_within_the_limit() {
        let p = Policy::parse_with_limits(&["80,22@10.0.0.0/8"], &["22/tcp=4/60s"]).unwrap();
        let addr = |s: &str| s.parse::<IpAddr>().unwrap();
        assert!(p.admits(Proto::Tcp, 22, addr("203.0.113.9")));
        assert!(!p.admits(Proto::Udp, 22, addr("203.0.113.9")));
        assert!(p.admits(Proto::Udp, 22, addr("10.0.0.1")));
        let limit = p.limit(Proto::Tcp, 22).unwrap();
        assert_eq!((limit.count, limit.window_ms), (4, 60_000));
        assert_eq!(p.limit(Proto::Udp, 22), None);
        assert_eq!(p.limit(Proto::Tcp, 80), None);
        let err = Policy::parse_with_limits(&["22"], &["1-2000/tcp=4/1s"]).unwrap_err();
        assert!(err.to_string().contains("the limit is 1024"), "{err}");
        let err = Policy::parse_with_limits(&["22"], &["22/tcp=99/1s"]).unwrap_err();
        assert!(err.to_string().contains("bad limit item"), "{err}");
    }

    #[test]
    fn collects_errors_from_every_list() {
        let err = Policy::parse(&["22,0", "80,abc"]).unwrap_err();
        let message = err.to_string();
        assert!(
            message.contains("\"0\"") && message.contains("\"abc\""),
            "{message}"
        );
    }
}
