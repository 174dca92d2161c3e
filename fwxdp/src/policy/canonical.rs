//! The policy written back as allow-spec items, the form `status` and the logs show.

use std::collections::BTreeMap;

use fwxdp_common::Proto;
use ipnet::IpNet;

use super::{
    PORTS, Policy,
    limit::LimitRule,
    spec::{AllowRule, ProtocolRule},
};

impl Policy {
    /// The per-source limits as canonical limit items (`22/tcp=4/1m`): consecutive ports
    /// of one protocol with the same limit merged into ranges.
    #[must_use]
    pub fn limit_specs(&self) -> Vec<String> {
        let mut rules: Vec<LimitRule> = Vec::new();
        for (&(proto, port), &limit) in &self.limits {
            match rules.last_mut() {
                Some(rule)
                    if rule.proto == proto && rule.limit == limit && rule.last + 1 == port =>
                {
                    rule.last = port;
                }
                _ => rules.push(LimitRule {
                    first: port,
                    last: port,
                    proto,
                    limit,
                }),
            }
        }
        rules.iter().map(ToString::to_string).collect()
    }

    /// The policy as canonical allow-spec items: ranges merged, TCP and UDP merged where both
    /// are allowed, protocols without ports last. Parsing them gives the same policy back.
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
            for proto in protos_of(flags) {
                items.push(format_item(first, port, proto, None));
            }
            port += 1;
        }
        // Source networks: group protocols per (port, net), then runs of ports.
        let mut by_net: BTreeMap<(IpNet, u16), u16> = BTreeMap::new();
        for &(proto, port, net) in &self.cidrs {
            *by_net.entry((net, port)).or_default() |= proto.allow_flag();
        }
        let mut runs: Vec<(u16, u16, u16, IpNet)> = Vec::new();
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
            for proto in protos_of(flags) {
                items.push(format_item(
                    usize::from(first),
                    usize::from(last),
                    proto,
                    Some(net),
                ));
            }
        }
        for &number in &self.protocols {
            items.push(
                ProtocolRule {
                    number,
                    source: None,
                }
                .to_string(),
            );
        }
        for &(number, net) in &self.protocol_cidrs {
            items.push(
                ProtocolRule {
                    number,
                    source: Some(net),
                }
                .to_string(),
            );
        }
        items
    }
}

/// The protocol parts of the items for allow `flags`: `None` (TCP and UDP, a bare port) when
/// both are there, then each other protocol on its own.
fn protos_of(flags: u16) -> Vec<Option<Proto>> {
    let has = |p: Proto| flags & p.allow_flag() != 0;
    let both = has(Proto::Tcp) && has(Proto::Udp);
    let mut protos = Vec::new();
    if both {
        protos.push(None);
    }
    for proto in Proto::ALL {
        if has(proto) && !(both && matches!(proto, Proto::Tcp | Proto::Udp)) {
            protos.push(Some(proto));
        }
    }
    protos
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
    use super::Policy;

    #[test]
    fn canonical_specs_round_trip() {
        let p = Policy::parse(&[
            "443,22,80,8000-8100/tcp,8101/tcp,53/udp,5432@10.0.0.0/8,5433@10.0.0.0/8",
        ])
        .unwrap();
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
    fn new_transports_and_protocols_round_trip() {
        let p = Policy::parse(&[
            "ip:gre@203.0.113.0/24,5000/sctp,22,22/sctp,5300/udplite@10.0.0.0/8,ip:esp,ip:253,\
             7/dccp",
        ])
        .unwrap();
        let specs = p.to_specs();
        assert_eq!(
            specs,
            vec![
                "7/dccp",
                "22",
                "22/sctp",
                "5000/sctp",
                "5300/udplite@10.0.0.0/8",
                "ip:esp",
                "ip:253",
                "ip:gre@203.0.113.0/24"
            ]
        );
        assert_eq!(Policy::parse(&specs).unwrap(), p);
    }
}
