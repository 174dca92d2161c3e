//! A validated allow policy, its compilation into map entries, and back.
//!
//! The kernel side sees a flags byte per port and an LPM trie of (port, source network)
//! entries; [`Policy`] is the canonical form of both, so `status` can show exactly what the
//! maps enforce.

use std::{
    collections::{BTreeMap, BTreeSet},
    net::{IpAddr, Ipv4Addr, Ipv6Addr},
};

use fwxdp_common::{
    CIDR_KEY_FIXED_BITS, CIDRS_MAX_ENTRIES, CidrKey, FAMILY_V4, FAMILY_V6, GENERATIONS, Proto,
};
use ipnet::IpNet;

use crate::spec::{self, AllowRule, SpecError};

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

    /// The flags byte of `port` in the ports map.
    #[must_use]
    pub fn port_flags(&self, port: u16) -> u8 {
        let mut flags = self.open[usize::from(port)];
        for proto in Proto::ALL {
            if self.has_cidrs(proto, port) {
                flags |= proto.cidr_flag();
            }
        }
        flags
    }

    fn has_cidrs(&self, proto: Proto, port: u16) -> bool {
        let low = (proto, port, IpNet::V4(ipnet::Ipv4Net::default()));
        self.cidrs
            .range(low..)
            .next()
            .is_some_and(|(p, n, _)| *p == proto && *n == port)
    }

    /// The LPM trie entries of this policy for `generation`: (prefix length, key).
    pub fn cidr_entries(&self, generation: u8) -> impl Iterator<Item = (u32, CidrKey)> + '_ {
        self.cidrs.iter().map(move |&(proto, port, net)| {
            let mut key = CidrKey {
                generation,
                proto: proto as u8,
                family: FAMILY_V4,
                _pad: 0,
                port_be: port.to_be(),
                addr: [0; 16],
            };
            match net.network() {
                IpAddr::V4(addr) => key.addr[..4].copy_from_slice(&addr.octets()),
                IpAddr::V6(addr) => {
                    key.family = FAMILY_V6;
                    key.addr = addr.octets();
                }
            }
            (CIDR_KEY_FIXED_BITS + u32::from(net.prefix_len()), key)
        })
    }

    /// Rebuilds a policy from the ports map (`flags[port]`) and trie entries of one generation.
    #[must_use]
    pub fn from_entries(flags: &[u8], cidrs: impl IntoIterator<Item = (u32, CidrKey)>) -> Self {
        let mut policy = Self::deny_all();
        for (port, f) in flags.iter().take(PORTS).enumerate() {
            policy.open[port] = f & (Proto::Tcp.allow_flag() | Proto::Udp.allow_flag());
        }
        for (prefix_len, key) in cidrs {
            let (Some(proto), Some(bits)) = (
                Proto::from_raw(key.proto),
                prefix_len.checked_sub(CIDR_KEY_FIXED_BITS),
            ) else {
                continue;
            };
            let Ok(bits) = u8::try_from(bits) else {
                continue;
            };
            let net = match key.family {
                FAMILY_V4 => {
                    let addr = Ipv4Addr::new(key.addr[0], key.addr[1], key.addr[2], key.addr[3]);
                    IpNet::new(IpAddr::V4(addr), bits)
                }
                _ => IpNet::new(IpAddr::V6(Ipv6Addr::from(key.addr)), bits),
            };
            if let Ok(net) = net {
                policy.cidrs.insert((proto, u16::from_be(key.port_be), net));
            }
        }
        policy
    }

    /// The policy as canonical allow-spec items: ranges merged, protocols merged where both
    /// are allowed. Parsing them gives the same policy back.
    #[must_use]
    pub fn to_specs(&self) -> Vec<String> {
        let mut items = Vec::new();
        // Open ports: runs of consecutive ports with the same protocols.
        let mut port = 1usize;
        while port < PORTS {
            let flags = self.open[port];
            if flags == 0 {
                port += 1;
                continue;
            }
            let first = port;
            while port + 1 < PORTS && self.open[port + 1] == flags {
                port += 1;
            }
            items.push(format_item(first, port, protos_of(flags), None));
            port += 1;
        }
        // Source networks: group protocols per (port, net), then runs of ports.
        let mut by_net: BTreeMap<(IpNet, u16), u8> = BTreeMap::new();
        for &(proto, port, net) in &self.cidrs {
            *by_net.entry((net, port)).or_default() |= proto.allow_flag();
        }
        let mut runs: Vec<(u16, u16, u8, IpNet)> = Vec::new();
        for ((net, port), flags) in by_net {
            match runs.last_mut() {
                Some((_, last, f, n)) if *n == net && *f == flags && *last + 1 == port => {
                    *last = port;
                }
                _ => runs.push((port, port, flags, net)),
            }
        }
        runs.sort_by_key(|(first, _, _, net)| (*first, *net));
        for (first, last, flags, net) in runs {
            items.push(format_item(
                usize::from(first),
                usize::from(last),
                protos_of(flags),
                Some(net),
            ));
        }
        items
    }
}

fn protos_of(flags: u8) -> Option<Proto> {
    match (
        flags & Proto::Tcp.allow_flag() != 0,
        flags & Proto::Udp.allow_flag() != 0,
    ) {
        (true, false) => Some(Proto::Tcp),
        (false, true) => Some(Proto::Udp),
        _ => None,
    }
}

fn format_item(first: usize, last: usize, proto: Option<Proto>, source: Option<IpNet>) -> String {
    // Ports come from a 65536-entry table, so they fit in u16.
    let port = |p: usize| u16::try_from(p).unwrap_or(u16::MAX);
    AllowRule {
        first: port(first),
        last: port(last),
        proto,
        source,
    }
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use fwxdp_common::{PORT_TCP_ALLOW, PORT_TCP_CIDR, PORT_UDP_ALLOW, PORT_UDP_CIDR};

    fn policy(list: &str) -> Policy {
        Policy::parse(&[list]).unwrap()
    }

    #[test]
    fn compiles_ports_into_flags() {
        let p = policy("22,80-81/tcp,53/udp,5432@10.0.0.0/8");
        assert_eq!(p.port_flags(22), PORT_TCP_ALLOW | PORT_UDP_ALLOW);
        assert_eq!(p.port_flags(80), PORT_TCP_ALLOW);
        assert_eq!(p.port_flags(81), PORT_TCP_ALLOW);
        assert_eq!(p.port_flags(82), 0);
        assert_eq!(p.port_flags(53), PORT_UDP_ALLOW);
        assert_eq!(p.port_flags(5432), PORT_TCP_CIDR | PORT_UDP_CIDR);
        assert_eq!(p.port_flags(0), 0);
        assert_eq!(p.port_flags(65535), 0);
        assert_eq!(p.open_port_count(Proto::Tcp), 3);
        assert_eq!(p.open_port_count(Proto::Udp), 2);
    }

    #[test]
    fn compiles_cidrs_into_trie_keys() {
        let p = policy("5432/tcp@10.0.0.0/8,22@2001:db8::/32");
        let entries: Vec<_> = p.cidr_entries(1).collect();
        assert_eq!(entries.len(), 3);
        let (len, key) = entries.iter().find(|(_, k)| k.family == FAMILY_V4).unwrap();
        assert_eq!(*len, CIDR_KEY_FIXED_BITS + 8);
        assert_eq!(key.generation, 1);
        assert_eq!(key.proto, Proto::Tcp as u8);
        assert_eq!(key.port_be, 5432u16.to_be());
        assert_eq!(&key.addr[..4], &[10, 0, 0, 0]);
        let v6: Vec<_> = entries
            .iter()
            .filter(|(_, k)| k.family == FAMILY_V6)
            .collect();
        assert_eq!(v6.len(), 2);
        assert!(v6.iter().all(|(len, k)| *len == CIDR_KEY_FIXED_BITS + 32
            && k.port_be == 22u16.to_be()
            && k.addr[..4] == [0x20, 0x01, 0x0d, 0xb8]));
    }

    #[test]
    fn cidr_on_an_open_port_adds_no_entry() {
        let p = policy("22,22@10.0.0.0/8");
        assert_eq!(p.cidr_entries(0).count(), 0);
        assert_eq!(p.to_specs(), vec!["22"]);
    }

    #[test]
    fn canonical_specs_round_trip() {
        let p = policy("443,22,80,8000-8100/tcp,8101/tcp,53/udp,5432@10.0.0.0/8,5433@10.0.0.0/8");
        let specs = p.to_specs();
        assert_eq!(
            specs,
            vec![
                "22",
                "53/udp",
                "80",
                "443",
                "8000-8101/tcp",
                "5432-5433@10.0.0.0/8"
            ]
        );
        assert_eq!(Policy::parse(&specs).unwrap(), p);
    }

    #[test]
    fn decompiles_map_entries() {
        let p = policy("22,53/udp,6379/tcp@192.168.0.0/16,80@fd00::/8");
        let flags: Vec<u8> = (0..=u16::MAX).map(|port| p.port_flags(port)).collect();
        let back = Policy::from_entries(&flags, p.cidr_entries(0));
        assert_eq!(back, p);
    }

    #[test]
    fn admits_open_ports_and_listed_sources() {
        let p = policy("22/tcp,5432@10.0.0.0/8");
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
