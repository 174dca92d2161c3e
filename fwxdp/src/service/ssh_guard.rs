//! A reload must not cut off the SSH sessions established now: a policy that would refuse a
//! new login from a connected client on its port is refused, unless its `[[interface]]`
//! says `close_ssh = true`.

use std::net::IpAddr;

use fwxdp_common::Proto;

use super::config::ServiceConfig;
use crate::{netlink::Link, policy::sessions::SshSession};

/// Why a config would cut off an SSH session, one line per session. `devices_of` names
/// the interfaces a session to a local address may come in through.
pub(super) fn check(
    config: &ServiceConfig,
    sessions: &[SshSession],
    devices_of: impl Fn(IpAddr) -> Vec<String>,
) -> Result<(), String> {
    let mut cut = Vec::new();
    for session in sessions {
        for iface in devices_of(session.local) {
            let Some(rule) = config.rule_for(&iface) else {
                continue;
            };
            if rule.close_ssh || rule.policy.admits(Proto::Tcp, session.port, session.client) {
                continue;
            }
            cut.push(format!(
                "{iface}: the SSH session from {} on TCP port {} could not log in again: the \
                 new allow list does not admit it (add the port, or write `close_ssh = true` \
                 in that [[interface]] to mean it)",
                session.client, session.port
            ));
        }
    }
    if cut.is_empty() {
        Ok(())
    } else {
        Err(cut.join("; "))
    }
}

/// The interfaces a session to the local address `addr` may come in through: the one that
/// holds it, the ports of a bridge or bond that holds it (and theirs), and the devices a
/// VLAN or macvlan among those is stacked on. The filter sits on whichever of them a table
/// covers.
pub(super) fn devices_carrying(addr: IpAddr, links: &[Link]) -> Vec<String> {
    let Some(holder) = interface_holding(addr) else {
        return Vec::new();
    };
    let Some(start) = links.iter().find(|l| l.name == holder) else {
        return vec![holder];
    };
    let mut found: Vec<&Link> = vec![start];
    // Bounded: each round adds only links not found yet.
    loop {
        let more: Vec<&Link> = links
            .iter()
            .filter(|l| !found.iter().any(|f| f.index == l.index))
            .filter(|l| {
                found
                    .iter()
                    .any(|f| l.master == Some(f.index) || f.lower == Some(l.index))
            })
            .collect();
        if more.is_empty() {
            break;
        }
        found.extend(more);
    }
    found.into_iter().map(|l| l.name.clone()).collect()
}

/// The interface that holds `addr`, among this namespace's addresses.
fn interface_holding(addr: IpAddr) -> Option<String> {
    nix::ifaddrs::getifaddrs().ok()?.find_map(|ifaddr| {
        let address = ifaddr.address?;
        let held = address
            .as_sockaddr_in()
            .map(|a| IpAddr::V4(a.ip()))
            .or_else(|| address.as_sockaddr_in6().map(|a| IpAddr::V6(a.ip())))?;
        (held == addr).then_some(ifaddr.interface_name)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::config::parse;

    fn session(client: &str, port: u16) -> SshSession {
        SshSession {
            client: client.parse().expect("client"),
            local: "192.0.2.1".parse().expect("local"),
            port,
        }
    }

    #[test]
    fn refuses_what_would_lock_out_a_connected_client_unless_told() {
        let on_eth0 = |_| vec!["eth0".to_owned()];
        let sessions = [session("203.0.113.7", 22)];
        let closed = parse("[[interface]]\nname = \"eth0\"\nallow = [\"80\"]\n").expect("valid");
        let err = check(&closed, &sessions, on_eth0).expect_err("would cut SSH off");
        assert!(
            err.contains("203.0.113.7") && err.contains("port 22"),
            "{err}"
        );
        let meant = parse("[[interface]]\nname = \"eth0\"\nallow = [\"80\"]\nclose_ssh = true\n")
            .expect("valid");
        assert!(check(&meant, &sessions, on_eth0).is_ok());
        let open = parse("[[interface]]\nname = \"eth0\"\nallow = [\"22@203.0.113.0/24\"]\n")
            .expect("valid");
        assert!(check(&open, &sessions, on_eth0).is_ok());
        // A session on an interface the config does not cover is not its business.
        assert!(check(&closed, &sessions, |_| vec!["eth1".to_owned()]).is_ok());
        assert!(check(&closed, &sessions, |_| Vec::new()).is_ok());
        // Through a bridge: the address on br0, the filter on its port eth0.
        let through_bridge = |_| vec!["br0".to_owned(), "eth0".to_owned()];
        assert!(check(&closed, &sessions, through_bridge).is_err());
    }
}
