//! Network interfaces by name, in the caller's network namespace.

use nix::{ifaddrs::getifaddrs, net::if_::InterfaceFlags};

use crate::netlink::{self, NetlinkError};

/// `ARPHRD_ETHER`.
const ARPHRD_ETHER: u16 = 1;
/// Link types whose frames start at the IP header: `ARPHRD_NONE` (tun, `wireguard`),
/// `ARPHRD_TUNNEL` (ipip), `ARPHRD_TUNNEL6` (ip6tnl), `ARPHRD_SIT`, `ARPHRD_IPGRE`,
/// `ARPHRD_IP6GRE`, `ARPHRD_RAWIP`, `ARPHRD_PPP`.
const IP_LINK_TYPES: &[u16] = &[65534, 768, 769, 776, 778, 823, 519, 512];

/// How the frames of an interface begin.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Framing {
    /// With an Ethernet header.
    Ethernet,
    /// With the IP header: the device has no link layer.
    Ip,
}

#[derive(Debug, thiserror::Error)]
pub enum IfaceError {
    #[error("{name:?} is not a valid interface name")]
    BadName { name: String },
    #[error("interface {name} does not exist")]
    UnknownInterface { name: String },
    #[error("interface {name} is a loopback interface, which fwxdp never filters")]
    Loopback { name: String },
    #[error("cannot list interfaces")]
    List { source: nix::Error },
    #[error(
        "interface {name} has link type {link_type} (neither Ethernet nor IP): fwxdp cannot \
         read its frames, so it does not filter it"
    )]
    Unframed { name: String, link_type: u16 },
    #[error(transparent)]
    Netlink(#[from] NetlinkError),
}

/// Linux limits names to 15 bytes; a '/' or a dot name would escape the pin directory.
fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() < libc::IFNAMSIZ
        && name != "."
        && name != ".."
        && !name
            .bytes()
            .any(|b| b == b'/' || b == b':' || b.is_ascii_whitespace() || b == 0)
}

/// Checks that `name` can be an interface name (and so a pin directory name).
pub fn check_name(name: &str) -> Result<(), IfaceError> {
    if valid_name(name) {
        Ok(())
    } else {
        Err(IfaceError::BadName {
            name: name.to_owned(),
        })
    }
}

/// The index of `name`, refusing loopback interfaces.
pub fn filterable_index(name: &str) -> Result<u32, IfaceError> {
    check_name(name)?;
    let index = nix::net::if_::if_nametoindex(name).map_err(|_| IfaceError::UnknownInterface {
        name: name.to_owned(),
    })?;
    let loopback = getifaddrs()
        .map_err(|source| IfaceError::List { source })?
        .any(|a| a.interface_name == name && a.flags.contains(InterfaceFlags::IFF_LOOPBACK));
    if loopback || name == "lo" {
        return Err(IfaceError::Loopback {
            name: name.to_owned(),
        });
    }
    Ok(index)
}

/// How the frames of the interface `index` (called `name`) begin; an error for a link type
/// the parser cannot read, whose frames it would misjudge.
pub fn framing(index: u32, name: &str) -> Result<Framing, IfaceError> {
    let unknown = || IfaceError::UnknownInterface {
        name: name.to_owned(),
    };
    let link = netlink::links::list()?
        .into_iter()
        .find(|l| l.index == index)
        .ok_or_else(unknown)?;
    match link.link_type {
        ARPHRD_ETHER => Ok(Framing::Ethernet),
        t if IP_LINK_TYPES.contains(&t) => Ok(Framing::Ip),
        link_type => Err(IfaceError::Unframed {
            name: name.to_owned(),
            link_type,
        }),
    }
}

/// The index of `name` if it exists now.
#[must_use]
pub fn index(name: &str) -> Option<u32> {
    nix::net::if_::if_nametoindex(name).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_names_that_escape_the_pin_dir() {
        for bad in ["", ".", "..", "a:b", "a/b", "a b", "sixteen-chars-xx"] {
            assert!(
                matches!(filterable_index(bad), Err(IfaceError::BadName { .. })),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn refuses_loopback() {
        assert!(matches!(
            filterable_index("lo"),
            Err(IfaceError::Loopback { .. })
        ));
    }
}
