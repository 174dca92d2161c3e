//! Interfaces as the kernel lists them, and the events that change them.

use std::io;

use netlink_packet_core::NetlinkPayload;
use netlink_packet_route::{
    AddressFamily, RouteNetlinkMessage,
    link::{
        GreEncapType, InfoData, InfoGre, InfoGre6, InfoIpTunnel, LinkAttribute, LinkFlags,
        LinkInfo, LinkMessage, LinkXdp, TunnelEncapType, XdpAttached,
    },
};
use netlink_sys::{Socket, SocketAddr, protocols::NETLINK_ROUTE};
use tokio::io::unix::AsyncFd;

use super::{error::NetlinkError, socket};

/// One interface.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Link {
    pub index: u32,
    pub name: String,
    pub loopback: bool,
    /// The bridge or bond it is a port of (`IFLA_MASTER`).
    pub master: Option<u32>,
    /// The device it is stacked on, for a VLAN or macvlan (`IFLA_LINK`).
    pub lower: Option<u32>,
    /// Its link-layer type (`ARPHRD_*`): 1 for Ethernet.
    pub link_type: u16,
    /// Its kind (`IFLA_INFO_KIND`: `veth`, `vxlan`, `wireguard`...), when it has one.
    pub kind: Option<String>,
    /// Administratively up.
    pub up: bool,
    /// An IP tunnel whose packets travel inside UDP (FOU, GUE), which fwxdp does not look
    /// into.
    pub udp_encap: bool,
}

/// Kinds of device that carry other hosts' packets inside their own: what arrives inside
/// reaches this host through the device, not through the interface it came in on.
const TUNNEL_KINDS: &[&str] = &[
    "vxlan",
    "geneve",
    "gre",
    "gretap",
    "ip6gre",
    "ip6gretap",
    "erspan",
    "ip6erspan",
    "ipip",
    "sit",
    "ip6tnl",
    "vti",
    "vti6",
    "xfrm",
    "wireguard",
    "bareudp",
    "gtp",
    "amt",
    "tun",
    "macsec",
    "l2tp",
    "ppp",
    "hsr",
    "batadv",
];

/// IP tunnels (IPv4 or IPv6 in IP, GRE carrying IP or Ethernet) whose packets the filter
/// takes apart where they arrive: what they carry is judged on the interface it comes in
/// on, before it reaches the device.
const JUDGED_WHERE_THEY_ARRIVE: &[&str] = &[
    "gre",
    "gretap",
    "ip6gre",
    "ip6gretap",
    "ipip",
    "sit",
    "ip6tnl",
];

impl Link {
    /// Whether the device is a tunnel ([`TUNNEL_KINDS`]).
    #[must_use]
    pub fn is_tunnel(&self) -> bool {
        self.kind
            .as_deref()
            .is_some_and(|kind| TUNNEL_KINDS.contains(&kind))
    }

    /// Whether what the device carries in reaches this host unjudged unless the device
    /// itself is filtered: a tunnel whose packets the filter does not take apart where they
    /// arrive (VXLAN, `WireGuard`, `IPsec`, UDP-encapsulated IP tunnels...).
    #[must_use]
    pub fn needs_own_filter(&self) -> bool {
        self.is_tunnel()
            && (self.udp_encap
                || !self
                    .kind
                    .as_deref()
                    .is_some_and(|kind| JUDGED_WHERE_THEY_ARRIVE.contains(&kind)))
    }
}

impl Link {
    /// The interface a message describes. Messages of other families (a bridge announcing
    /// that a port left it, with the port's name and index) describe no change to the
    /// interface itself.
    fn from_message(message: &LinkMessage) -> Option<Self> {
        if message.header.interface_family != AddressFamily::Unspec {
            return None;
        }
        let name = message.attributes.iter().find_map(|a| match a {
            LinkAttribute::IfName(name) => Some(name.clone()),
            _ => None,
        })?;
        let master = message.attributes.iter().find_map(|a| match a {
            LinkAttribute::Controller(index) => Some(*index),
            _ => None,
        });
        let lower = message.attributes.iter().find_map(|a| match a {
            LinkAttribute::Link(index) if *index != message.header.index => Some(*index),
            _ => None,
        });
        let kind = infos(message).find_map(|info| match info {
            LinkInfo::Kind(kind) => Some(kind.to_string()),
            _ => None,
        });
        let udp_encap = infos(message).any(|info| match info {
            LinkInfo::Data(data) => udp_encapsulated(data),
            _ => false,
        });
        Some(Self {
            udp_encap,
            index: message.header.index,
            loopback: message.header.flags.contains(LinkFlags::Loopback),
            up: message.header.flags.contains(LinkFlags::Up),
            link_type: u16::from(message.header.link_layer_type),
            kind,
            name,
            master,
            lower,
        })
    }
}

/// The `IFLA_LINKINFO` attributes of a link message.
fn infos(message: &LinkMessage) -> impl Iterator<Item = &LinkInfo> {
    message
        .attributes
        .iter()
        .filter_map(|a| match a {
            LinkAttribute::LinkInfo(infos) => Some(infos),
            _ => None,
        })
        .flatten()
}

/// Whether an IP tunnel's data says its packets travel inside UDP (`IFLA_*_ENCAP_TYPE`).
fn udp_encapsulated(data: &InfoData) -> bool {
    match data {
        InfoData::IpTunnel(nlas) => nlas.iter().any(
            |nla| matches!(nla, InfoIpTunnel::EncapType(kind) if *kind != TunnelEncapType::None),
        ),
        InfoData::GreTun(nlas) | InfoData::GreTap(nlas) => nlas
            .iter()
            .any(|nla| matches!(nla, InfoGre::EncapType(kind) if *kind != GreEncapType::None)),
        InfoData::GreTun6(nlas) | InfoData::GreTap6(nlas) => nlas
            .iter()
            .any(|nla| matches!(nla, InfoGre6::EncapType(kind) if *kind != GreEncapType::None)),
        _ => false,
    }
}

/// Every interface of this network namespace.
pub fn list() -> Result<Vec<Link>, NetlinkError> {
    let answer = socket::dump(
        RouteNetlinkMessage::GetLink(LinkMessage::default()),
        "list interfaces",
    )?;
    Ok(answer
        .iter()
        .filter_map(|message| match message {
            RouteNetlinkMessage::NewLink(link) => Link::from_message(link),
            _ => None,
        })
        .collect())
}

/// How the interface `index` of this namespace runs the XDP program `program_id`:
/// `Some(true)` in the driver (native), `Some(false)` generic, `None` not at all.
pub fn xdp_native(index: u32, program_id: u32) -> Result<Option<bool>, NetlinkError> {
    let answer = socket::dump(
        RouteNetlinkMessage::GetLink(LinkMessage::default()),
        "list interfaces",
    )?;
    let attributes = answer
        .iter()
        .filter_map(|message| match message {
            RouteNetlinkMessage::NewLink(link) if link.header.index == index => Some(link),
            _ => None,
        })
        .flat_map(|link| &link.attributes)
        .filter_map(|a| match a {
            LinkAttribute::Xdp(xdp) => Some(xdp),
            _ => None,
        })
        .flatten();
    let mut found = None;
    for attribute in attributes {
        match attribute {
            LinkXdp::DrvProgId(id) if *id == program_id => found = Some(true),
            LinkXdp::SkbProgId(id) if *id == program_id => found = Some(false),
            // A single program reports only its id and how it is attached.
            LinkXdp::ProgId(id) if *id == program_id && found.is_none() => found = Some(false),
            LinkXdp::Attached(XdpAttached::Driver) if found == Some(false) => found = Some(true),
            _ => {}
        }
    }
    Ok(found)
}

/// A change the kernel announced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LinkEvent {
    /// The interface was created, renamed, or changed otherwise (state, flags, address).
    Changed(Link),
    /// The interface was deleted.
    Removed(Link),
}

/// The kernel's announcements of interface changes, read as they come.
pub struct LinkEvents {
    socket: AsyncFd<Socket>,
}

/// Room for bursts: a container start announces several changes at once.
const RECEIVE_BUFFER: usize = 4 << 20;

impl LinkEvents {
    /// Subscribes to the interface changes of this network namespace. Subscribe before
    /// listing the interfaces, so that no change falls between the list and the events.
    /// Call it inside the tokio runtime.
    pub fn open() -> Result<Self, NetlinkError> {
        let mut socket = Socket::new(NETLINK_ROUTE).map_err(NetlinkError::Open)?;
        let groups = u32::try_from(libc::RTMGRP_LINK).unwrap_or(1);
        socket
            .bind(&SocketAddr::new(0, groups))
            .map_err(NetlinkError::Open)?;
        // Larger than the default, so that a burst overflows it less often; an overflow is
        // reported ([`NetlinkError::Overrun`]), never silent.
        socket
            .set_rx_buf_sz(RECEIVE_BUFFER)
            .map_err(NetlinkError::Open)?;
        socket.set_non_blocking(true).map_err(NetlinkError::Open)?;
        // SAFETY: the socket owns its descriptor, which stays open and the same until the
        // socket is dropped with the AsyncFd.
        let socket = unsafe { AsyncFd::register(socket) }
            .map_err(|e| NetlinkError::Open(io::Error::from(e)))?;
        Ok(Self { socket })
    }

    /// Waits for the next changes and returns every one that has arrived.
    ///
    /// # Errors
    /// [`NetlinkError::Overrun`] when the kernel dropped events: list the interfaces again.
    pub async fn next(&mut self) -> Result<Vec<LinkEvent>, NetlinkError> {
        let what = "read interface events";
        let mut events = Vec::new();
        loop {
            let mut guard = self
                .socket
                .readable()
                .await
                .map_err(|source| NetlinkError::Io { what, source })?;
            loop {
                match guard.get_inner().recv_from_full() {
                    Ok((datagram, _)) => events.extend(parse_events(&datagram)?),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        guard.clear_ready();
                        break;
                    }
                    Err(e) if e.raw_os_error() == Some(libc::ENOBUFS) => {
                        return Err(NetlinkError::Overrun);
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(source) => return Err(NetlinkError::Io { what, source }),
                }
            }
            if !events.is_empty() {
                return Ok(events);
            }
        }
    }
}

fn parse_events(datagram: &[u8]) -> Result<Vec<LinkEvent>, NetlinkError> {
    Ok(socket::parse(datagram, "read interface events")?
        .into_iter()
        .filter_map(|message| match message.payload {
            NetlinkPayload::InnerMessage(RouteNetlinkMessage::NewLink(link)) => {
                Link::from_message(&link).map(LinkEvent::Changed)
            }
            NetlinkPayload::InnerMessage(RouteNetlinkMessage::DelLink(link)) => {
                Link::from_message(&link).map(LinkEvent::Removed)
            }
            _ => None,
        })
        .collect())
}
