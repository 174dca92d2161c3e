//! A validated allow policy: the allow-spec grammar ([`spec`]), the policy it builds, its
//! compilation into map entries and back ([`compile`]), its canonical spec form
//! ([`canonical`]), and the guard against locking out the SSH session ([`lockout`]).
//!
//! The kernel side sees a flags byte per port and an LPM trie of (port, source network)
//! entries; [`Policy`] is the canonical form of both, so `status` can show exactly what the
//! maps enforce.

pub mod canonical;
pub mod compile;
pub mod lockout;
pub mod sessions;
pub mod spec;

use std::{collections::BTreeSet, net::IpAddr};

use fwxdp_common::{CIDRS_MAX_ENTRIES, GENERATIONS, Proto};
use ipnet::IpNet;

use spec::{AllowRule, SpecError};

/// CIDR entries one policy may hold: the trie holds two generations during a replacement.
pub const MAX_CIDR_ENTRIES: usize = (CIDRS_MAX_ENTRIES / GENERATIONS) as usize;

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
}

fn join_errors(errors: &[SpecError]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// Ports open to everyone, and source networks allowed per (proto, port).
#[derive(Clone, PartialEq, Eq)]
pub struct Policy {
    /// `PORT_*_ALLOW` bits (only the allow bits), indexed by port.
    open: Vec<u8>,
    /// Source networks allowed where the port is not open to everyone.
    cidrs: BTreeSet<(Proto, u16, IpNet)>,
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
        }
    }

    /// Parses allow lists (each comma-separated) into a policy, reporting every bad item.
    pub fn parse<S: AsRef<str>>(lists: &[S]) -> Result<Self, PolicyError> {
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

    /// Builds the policy that the rules describe.
    pub fn from_rules(rules: &[AllowRule]) -> Result<Self, PolicyError> {
        let mut policy = Self::deny_all();
        for rule in rules.iter().filter(|r| r.source.is_none()) {
            for proto in rule.protos() {
                for port in rule.first..=rule.last {
                    policy.open[usize::from(port)] |= proto.allow_flag();
                }
            }
        }
        let mut entries = 0usize;
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
        if policy.cidrs.len() > MAX_CIDR_ENTRIES {
            return Err(PolicyError::TooManyCidrEntries {
                entries: policy.cidrs.len(),
            });
        }
        Ok(policy)
    }

    /// Whether `port` is open to every source for `proto`.
    #[must_use]
    pub fn is_open(&self, proto: Proto, port: u16) -> bool {
        self.open[usize::from(port)] & proto.allow_flag() != 0
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
    fn collects_errors_from_every_list() {
        let err = Policy::parse(&["22,0", "80,abc"]).unwrap_err();
        let message = err.to_string();
        assert!(
            message.contains("\"0\"") && message.contains("\"abc\""),
            "{message}"
        );
    }
}
