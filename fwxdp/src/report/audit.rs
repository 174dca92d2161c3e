//! `fwxdp audit`: every socket that waits for others and every port published by NAT, and
//! for each, per interface and family, whether the filter lets everyone in, only some
//! networks, nobody, or does not stand in the way at all.

use std::{collections::BTreeMap, net::IpAddr};

use fwxdp_common::Proto;
use serde::Serialize;

use super::nat::{self, Published};
use crate::{
    netlink::{
        self, Link, NetlinkError,
        sockets::{self, Listening, SocketProto},
    },
    policy::Policy,
    process::{self, Holder},
    state::{PinRoot, PinnedInterface, RunningError},
};

/// What reaches a port through one interface.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Exposure {
    /// Every source: the port is open.
    Everyone,
    /// Only sources in [`Entry::cidrs`].
    Cidr,
    /// No new connection from outside: the filter drops it.
    Protected,
    /// Bound to a loopback address: nothing from outside reaches it.
    Loopback,
    /// The interface is not filtered (not attached, in monitor mode, or its filter is not
    /// in force): whatever the allow list says, everyone reaches the port.
    Unfiltered,
}

/// One port, on one interface, for one family.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Entry {
    /// `tcp` or `udp`.
    pub proto: &'static str,
    pub port: u16,
    /// `ipv4` or `ipv6`.
    pub family: &'static str,
    pub interface: String,
    pub exposure: Exposure,
    /// For `cidr`: the networks the port is open to.
    pub cidrs: Vec<String>,
    /// The processes that hold the socket (`name[pid]`); for a NAT rule, none.
    pub process: Option<String>,
    /// `socket` or `nat`.
    pub source: &'static str,
    /// The socket's address, or where the NAT rule sends it.
    pub address: String,
}

/// An interface that carries traffic to this host and that no filter stands in front of.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Unfiltered {
    pub interface: String,
    /// Its kind (`veth`, `vxlan`, `bridge`...), when it has one.
    pub kind: Option<String>,
    /// `not attached`, `monitor mode`, or why its filter is not in force.
    pub why: String,
}

/// The whole audit.
#[derive(Clone, Debug, Serialize)]
pub struct Audit {
    pub entries: Vec<Entry>,
    pub unfiltered_interfaces: Vec<Unfiltered>,
    /// What could not be read (a NAT table, an interface's policy).
    pub notes: Vec<String>,
    /// One line: what is exposed.
    pub summary: String,
}

#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error(transparent)]
    Netlink(#[from] NetlinkError),
    #[error(transparent)]
    Pins(#[from] crate::state::PinError),
    #[error(transparent)]
    Running(#[from] RunningError),
}

/// How an interface stands, as far as the audit cares.
enum Guard {
    /// Filtered by this policy.
    Policy(Policy),
    /// Not filtered, for this reason.
    Open(String),
}

/// Audits this host (its network namespace) against what is attached under `root`.
///
/// # Errors
/// When the sockets, the interfaces or the pins cannot be read.
pub fn audit(root: &PinRoot) -> Result<Audit, AuditError> {
    let links = netlink::links::list()?;
    let listening = sockets::listening()?;
    let holders = process::socket_holders(|_| true);
    let (published, mut notes) = nat::published();
    let mut guards: BTreeMap<String, Guard> = BTreeMap::new();
    for mut pinned in PinnedInterface::all(root)? {
        let filtering = pinned.filtering();
        let running = crate::state::Running::of(&mut pinned)?;
        let guard = if !filtering.is_yes() {
            Guard::Open(format!(
                "its filter is not in force ({})",
                filtering.label()
            ))
        } else if running.monitor {
            Guard::Open("monitor mode".to_owned())
        } else {
            Guard::Policy(running.policy)
        };
        guards.insert(running.name, guard);
    }
    // IP tunnel devices (gre, ipip, sit...) are left out: what they carry is judged on the
    // interface its tunnel packets arrive on, which is listed.
    let interfaces: Vec<&Link> = links
        .iter()
        .filter(|l| l.up && !l.loopback && (!l.is_tunnel() || l.needs_own_filter()))
        .collect();
    let mut entries = Vec::new();
    for link in &interfaces {
        let guard = guards.get(&link.name);
        for socket in &listening {
            if socket.ifindex != 0 && socket.ifindex != link.index {
                continue;
            }
            for ipv6 in families(socket) {
                entries.push(entry(
                    link,
                    guard,
                    socket.proto,
                    socket.port,
                    ipv6,
                    is_loopback(socket.addr),
                    "socket",
                    socket.addr.to_string(),
                    owners(holders.get(&u64::from(socket.inode))),
                ));
            }
        }
        for rule in published.iter().filter(|p| p.applies_on(&link.name)) {
            entries.push(entry(
                link,
                guard,
                rule.proto,
                rule.port,
                rule.ipv6,
                rule.loopback_only(),
                "nat",
                to(rule),
                None,
            ));
        }
    }
    entries.sort_by(|a, b| {
        (a.proto, a.port, a.family, &a.interface, a.source).cmp(&(
            b.proto,
            b.port,
            b.family,
            &b.interface,
            b.source,
        ))
    });
    entries.dedup();
    let unfiltered_interfaces: Vec<Unfiltered> = interfaces
        .iter()
        .filter_map(|link| {
            let why = match guards.get(&link.name) {
                None => "not attached".to_owned(),
                Some(Guard::Open(why)) => why.clone(),
                Some(Guard::Policy(_)) => return None,
            };
            Some(Unfiltered {
                interface: link.name.clone(),
                kind: link.kind.clone(),
                why,
            })
        })
        .collect();
    if published.is_empty() && notes.is_empty() {
        notes.push("no port is published by NAT".to_owned());
    }
    let summary = summary(&entries, &unfiltered_interfaces);
    Ok(Audit {
        entries,
        unfiltered_interfaces,
        notes,
        summary,
    })
}

/// The families a socket takes: an IPv6 socket on `::` without `IPV6_V6ONLY` takes IPv4 too.
fn families(socket: &Listening) -> Vec<bool> {
    match socket.addr {
        IpAddr::V4(_) => vec![false],
        IpAddr::V6(v6) if v6.to_ipv4_mapped().is_some() => vec![false],
        IpAddr::V6(v6) if v6.is_unspecified() && !socket.v6only => vec![false, true],
        IpAddr::V6(_) => vec![true],
    }
}

fn is_loopback(addr: IpAddr) -> bool {
    addr.to_canonical().is_loopback()
}

fn owners(holders: Option<&Vec<Holder>>) -> Option<String> {
    let holders = holders?;
    Some(
        holders
            .iter()
            .map(|h| format!("{}[{}]", h.name, h.pid))
            .collect::<Vec<_>>()
            .join(","),
    )
}

fn to(rule: &Published) -> String {
    if rule.to.is_empty() {
        "NAT".to_owned()
    } else {
        format!("NAT to {}", rule.to)
    }
}

#[expect(
    clippy::too_many_arguments,
    reason = "one entry's fields, from a socket or a NAT rule alike"
)]
fn entry(
    link: &Link,
    guard: Option<&Guard>,
    proto: SocketProto,
    port: u16,
    ipv6: bool,
    loopback: bool,
    source: &'static str,
    address: String,
    process: Option<String>,
) -> Entry {
    let (exposure, cidrs) = if loopback {
        (Exposure::Loopback, Vec::new())
    } else {
        match guard {
            None | Some(Guard::Open(_)) => (Exposure::Unfiltered, Vec::new()),
            Some(Guard::Policy(policy)) => judge(policy, proto, port, ipv6),
        }
    };
    Entry {
        proto: proto.name(),
        port,
        family: if ipv6 { "ipv6" } else { "ipv4" },
        interface: link.name.clone(),
        exposure,
        cidrs,
        process,
        source,
        address,
    }
}

/// What `policy` lets reach (`proto`, `port`) over one family.
#[must_use]
pub fn judge(
    policy: &Policy,
    proto: SocketProto,
    port: u16,
    ipv6: bool,
) -> (Exposure, Vec<String>) {
    let proto = match proto {
        SocketProto::Tcp => Proto::Tcp,
        SocketProto::Udp => Proto::Udp,
    };
    if policy.is_open(proto, port) {
        return (Exposure::Everyone, Vec::new());
    }
    let cidrs: Vec<String> = policy
        .sources(proto, port)
        .iter()
        .filter(|net| matches!(net, ipnet::IpNet::V6(_)) == ipv6)
        .map(ToString::to_string)
        .collect();
    if cidrs.is_empty() {
        (Exposure::Protected, cidrs)
    } else {
        (Exposure::Cidr, cidrs)
    }
}

/// One line: the ports everyone reaches, those some networks reach, and the interfaces no
/// filter covers.
fn summary(entries: &[Entry], unfiltered: &[Unfiltered]) -> String {
    let ports = |wanted: Exposure| {
        let mut list: Vec<String> = entries
            .iter()
            .filter(|e| e.exposure == wanted)
            .map(|e| format!("{}/{}", e.proto, e.port))
            .collect();
        list.dedup();
        list
    };
    let (everyone, cidr) = (ports(Exposure::Everyone), ports(Exposure::Cidr));
    let open = ports(Exposure::Unfiltered);
    let list = |l: &[String]| {
        if l.is_empty() {
            "none".to_owned()
        } else {
            l.join(" ")
        }
    };
    let names: Vec<&str> = unfiltered.iter().map(|u| u.interface.as_str()).collect();
    format!(
        "exposed to everyone: {}; to some networks only: {}; behind no filter: {}{}",
        list(&everyone),
        list(&cidr),
        list(&open),
        if names.is_empty() {
            String::new()
        } else {
            format!(" (unfiltered interfaces: {})", names.join(", "))
        }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn judges_open_cidr_and_protected_per_family() {
        let policy =
            Policy::parse(&["22,80/tcp,5432@10.0.0.0/8,5432@2001:db8::/32,6379@10.1.0.0/16"])
                .expect("valid");
        assert_eq!(
            judge(&policy, SocketProto::Tcp, 22, false).0,
            Exposure::Everyone
        );
        assert_eq!(
            judge(&policy, SocketProto::Udp, 22, true).0,
            Exposure::Everyone
        );
        assert_eq!(
            judge(&policy, SocketProto::Udp, 80, false).0,
            Exposure::Protected
        );
        assert_eq!(
            judge(&policy, SocketProto::Tcp, 5432, false),
            (Exposure::Cidr, vec!["10.0.0.0/8".to_owned()])
        );
        assert_eq!(
            judge(&policy, SocketProto::Tcp, 5432, true),
            (Exposure::Cidr, vec!["2001:db8::/32".to_owned()])
        );
        // Open to an IPv4 network only: over IPv6 nobody gets in.
        assert_eq!(
            judge(&policy, SocketProto::Tcp, 6379, true).0,
            Exposure::Protected
        );
    }

    #[test]
    fn a_dual_stack_socket_takes_both_families() {
        let socket = |addr: &str, v6only| Listening {
            proto: SocketProto::Tcp,
            addr: addr.parse().expect("addr"),
            port: 1,
            v6only,
            ifindex: 0,
            inode: 0,
        };
        assert_eq!(families(&socket("::", false)), [false, true]);
        assert_eq!(families(&socket("::", true)), [true]);
        assert_eq!(families(&socket("0.0.0.0", false)), [false]);
        assert_eq!(families(&socket("::ffff:10.0.0.1", false)), [false]);
        assert!(is_loopback("::ffff:127.0.0.1".parse().expect("addr")));
    }
}
