//! The sockets that wait for others to come in: listening TCP sockets and bound,
//! unconnected UDP sockets, as the kernel's `sock_diag` lists them for this network
//! namespace (what `ss -lntu` shows).

use std::net::IpAddr;

use netlink_packet_sock_diag::{
    SockDiagMessage,
    constants::{AF_INET, AF_INET6, IPPROTO_TCP, IPPROTO_UDP},
    inet::{ExtensionFlags, InetRequest, SocketId, StateFlags, nlas::Nla},
};
use netlink_sys::protocols::NETLINK_SOCK_DIAG;

use super::{error::NetlinkError, socket};

/// TCP or UDP.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SocketProto {
    Tcp,
    Udp,
}

impl SocketProto {
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::Tcp => "tcp",
            Self::Udp => "udp",
        }
    }
}

/// One socket waiting for others.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Listening {
    pub proto: SocketProto,
    /// The address it is bound to: `0.0.0.0` or `::` for every one.
    pub addr: IpAddr,
    pub port: u16,
    /// An IPv6 socket that takes IPv6 only (`IPV6_V6ONLY`); false for IPv4 sockets.
    pub v6only: bool,
    /// The interface it is bound to (`SO_BINDTODEVICE`), 0 for none.
    pub ifindex: u32,
    /// Its inode, to find the process that holds it.
    pub inode: u32,
}

/// Every listening TCP socket and bound, unconnected UDP socket, IPv4 and IPv6.
///
/// # Errors
/// When the kernel cannot be asked.
pub fn listening() -> Result<Vec<Listening>, NetlinkError> {
    let mut found = Vec::new();
    for (proto, protocol, states) in [
        (SocketProto::Tcp, IPPROTO_TCP, StateFlags::LISTEN),
        // A UDP socket that is bound and not connected is in state CLOSE; a connected one
        // (ESTABLISHED) is a client's and takes nothing from others.
        (SocketProto::Udp, IPPROTO_UDP, StateFlags::CLOSE),
    ] {
        for family in [AF_INET, AF_INET6] {
            let request = SockDiagMessage::InetRequest(InetRequest {
                family,
                protocol,
                extensions: ExtensionFlags::empty(),
                states: states.clone(),
                socket_id: if family == AF_INET {
                    SocketId::new_v4()
                } else {
                    SocketId::new_v6()
                },
            });
            for message in socket::dump_over(NETLINK_SOCK_DIAG, request, "list sockets")? {
                let SockDiagMessage::InetResponse(response) = message else {
                    continue;
                };
                let id = &response.header.socket_id;
                // An unbound UDP socket (port 0) receives nothing.
                if id.source_port == 0 {
                    continue;
                }
                let v6only = response
                    .nlas
                    .iter()
                    .any(|nla| matches!(nla, Nla::SkV6Only(true)));
                found.push(Listening {
                    proto,
                    addr: id.source_address,
                    port: id.source_port,
                    v6only,
                    ifindex: id.interface_id,
                    inode: response.header.inode,
                });
            }
        }
    }
    found.sort();
    found.dedup();
    Ok(found)
}
