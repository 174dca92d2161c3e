//! The targets of `block` and `unblock`: interface names and addresses or networks, in any
//! order, told apart by their form.

use ipnet::IpNet;

use super::error::UsageError;
use crate::{
    iface,
    policy::spec::{self, BadNetwork},
    state::Scope,
};

/// What `block` or `unblock` is to change: where, and which sources.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Targets {
    pub(super) scopes: Vec<Scope>,
    pub(super) nets: Vec<IpNet>,
}

/// Sorts `targets` into interfaces and networks; `all` stands for every interface.
pub(super) fn parse(targets: &[String], all: bool) -> Result<Targets, UsageError> {
    let mut scopes = Vec::new();
    let mut nets = Vec::new();
    for target in targets {
        if looks_like_network(target) {
            nets.push(network(target)?);
        } else {
            iface::check_name(target).map_err(UsageError::InterfaceName)?;
            let scope = Scope::Interface(target.clone());
            if !scopes.contains(&scope) {
                scopes.push(scope);
            }
        }
    }
    if nets.is_empty() {
        return Err(UsageError::Block(
            "name at least one address or network (203.0.113.7, 2001:db8::/32)".to_owned(),
        ));
    }
    match (all, scopes.is_empty()) {
        (true, false) => Err(UsageError::Block(
            "--all and interface names do not go together: --all means every interface".to_owned(),
        )),
        (false, true) => Err(UsageError::Block(
            "name the interfaces, or give --all for every interface".to_owned(),
        )),
        (true, true) => Ok(Targets {
            scopes: vec![Scope::All],
            nets,
        }),
        (false, false) => Ok(Targets { scopes, nets }),
    }
}

/// An address or network, never an interface name: it holds ':' or '/' (no interface name
/// does), or starts with a digit and holds a '.' (`eth0.100` is an interface).
fn looks_like_network(target: &str) -> bool {
    target.contains([':', '/'])
        || (target.starts_with(|c: char| c.is_ascii_digit()) && target.contains('.'))
}

fn network(target: &str) -> Result<IpNet, UsageError> {
    spec::network(target).map_err(|e| {
        UsageError::Block(match e {
            BadNetwork::Invalid => {
                format!("{target:?} is not an IPv4 or IPv6 address or network")
            }
            BadNetwork::HostBits { network } => {
                format!("{target} has host bits set (did you mean {network}?)")
            }
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn sorts_interfaces_from_networks() {
        let t = parse(
            &args(&["eth0", "203.0.113.7", "eth0.100", "2001:db8::/32"]),
            false,
        )
        .unwrap();
        assert_eq!(
            t.scopes,
            vec![
                Scope::Interface("eth0".into()),
                Scope::Interface("eth0.100".into())
            ]
        );
        assert_eq!(
            t.nets,
            vec![
                "203.0.113.7/32".parse::<IpNet>().unwrap(),
                "2001:db8::/32".parse().unwrap()
            ]
        );
        let t = parse(&args(&["10.0.0.0/8", "::ffff:1.2.3.4"]), true).unwrap();
        assert_eq!(t.scopes, vec![Scope::All]);
    }

    #[test]
    fn names_what_is_wrong() {
        let cases: [(&[&str], bool, &str); 6] = [
            (&["eth0"], false, "name at least one address"),
            (
                &["203.0.113.7"],
                false,
                "name the interfaces, or give --all",
            ),
            (&["eth0", "203.0.113.7"], true, "--all and interface names"),
            (
                &["eth0", "203.0.113.300"],
                false,
                "\"203.0.113.300\" is not an IPv4",
            ),
            (
                &["eth0", "10.0.0.1/8"],
                false,
                "host bits set (did you mean 10.0.0.0/8?)",
            ),
            (&["eth0", "2001:db8::/129"], false, "is not an IPv4 or IPv6"),
        ];
        for (targets, all, want) in cases {
            let err = parse(&args(targets), all).unwrap_err().to_string();
            assert!(err.contains(want), "{targets:?}: {err}");
        }
    }
}
