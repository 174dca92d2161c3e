//! Where an interface's frames begin: the parser must read them from the right byte, or it
//! judges garbage and a device is filtered in name only. Only layouts a lab test has proved
//! are accepted; every other device is refused with its link type.

use crate::netlink::{self, NetlinkError};

/// `ARPHRD_ETHER`.
const ARPHRD_ETHER: u16 = 1;
/// `ARPHRD_NONE`: tun and wireguard devices, whose frames start at the IP header (both
/// reset the MAC header to it).
const ARPHRD_NONE: u16 = 65_534;
/// IP tunnels whose receive path leaves the MAC header on the outer header (sit always,
/// ipgre with header ops, ipip before Linux 5.14) or puts a made-up Ethernet header in
/// front (vti, xfrm): `ARPHRD_TUNNEL`, `ARPHRD_TUNNEL6`, `ARPHRD_SIT`, `ARPHRD_IPGRE`,
/// `ARPHRD_IP6GRE`. Refused until their layout is handled and proved.
const OUTER_HEADER_TUNNELS: &[u16] = &[768, 769, 776, 778, 823];

/// How the frames of an interface begin.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Framing {
    /// With an Ethernet header.
    Ethernet,
    /// With the IP header: the device has no link layer.
    Ip,
}

#[derive(Debug, thiserror::Error)]
pub enum FramingError {
    #[error(
        "{name} is an IP tunnel device (link type {link_type}) whose frames may start at the \
         outer header, so fwxdp does not attach to it. It need not: what a GRE, IPIP or 6in4 \
         tunnel carries is judged by the filter of the interface its packets arrive on \
         (attach that one, and allow the tunnel protocol from its peer: ip:gre@PEER)"
    )]
    OuterHeader { name: String, link_type: u16 },
    #[error(
        "interface {name} has link type {link_type} (neither Ethernet nor IP): fwxdp cannot \
         read its frames, so it does not filter it"
    )]
    Unknown { name: String, link_type: u16 },
    #[error("interface {name} does not exist")]
    Gone { name: String },
    #[error(transparent)]
    Netlink(#[from] NetlinkError),
}

/// How the frames of the interface `index` (called `name`) begin.
pub fn of(index: u32, name: &str) -> Result<Framing, FramingError> {
    let link = netlink::links::list()?
        .into_iter()
        .find(|l| l.index == index)
        .ok_or_else(|| FramingError::Gone {
            name: name.to_owned(),
        })?;
    match framing(link.link_type) {
        Ok(framing) => Ok(framing),
        Err(Refusal::OuterHeader) => Err(FramingError::OuterHeader {
            name: name.to_owned(),
            link_type: link.link_type,
        }),
        Err(Refusal::Unknown) => Err(FramingError::Unknown {
            name: name.to_owned(),
            link_type: link.link_type,
        }),
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Refusal {
    OuterHeader,
    Unknown,
}

fn framing(link_type: u16) -> Result<Framing, Refusal> {
    match link_type {
        ARPHRD_ETHER => Ok(Framing::Ethernet),
        ARPHRD_NONE => Ok(Framing::Ip),
        t if OUTER_HEADER_TUNNELS.contains(&t) => Err(Refusal::OuterHeader),
        _ => Err(Refusal::Unknown),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_proven_layouts_are_accepted() {
        assert_eq!(framing(1), Ok(Framing::Ethernet));
        assert_eq!(framing(65_534), Ok(Framing::Ip));
        // sit, ipgre, ipip, ip6tnl, ip6gre.
        for t in [776, 778, 768, 769, 823] {
            assert_eq!(framing(t), Err(Refusal::OuterHeader), "{t}");
        }
        // InfiniBand, loopback, raw IP, PPP, CAN.
        for t in [32, 772, 519, 512, 280] {
            assert_eq!(framing(t), Err(Refusal::Unknown), "{t}");
        }
    }
}
