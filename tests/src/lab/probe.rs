//! Real clients: TCP connects and UDP requests with timeouts, from inside a namespace.

use std::{
    io::{ErrorKind, Read as _},
    net::{IpAddr, SocketAddr, UdpSocket},
    time::Duration,
};

use socket2::{Domain, Protocol, SockAddr, Socket, Type};

use super::{netns::Netns, services::GREETING};

/// How a TCP connect ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tcp {
    /// Connected and the service greeted us.
    Open,
    /// Refused (RST): nothing listens, and nothing filtered the SYN.
    Closed,
    /// No answer before the timeout: the SYN (or its answer) was dropped.
    Filtered,
    /// No route: the link to the server is gone (deleted and not made again yet).
    Unreachable,
}

/// How a UDP request ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Udp {
    /// The echo came back.
    Reply,
    /// Nothing came back before the timeout.
    Silent,
}

/// Connects from `ns` (optionally from source address `from`) to `to`.
///
/// # Panics
/// On an error that is neither a refusal, a timeout nor a missing route.
#[must_use]
pub fn tcp(ns: &Netns, from: Option<IpAddr>, to: SocketAddr, timeout: Duration) -> Tcp {
    ns.enter(move || {
        let socket = Socket::new(Domain::for_address(to), Type::STREAM, Some(Protocol::TCP))
            .expect("socket");
        if let Some(from) = from {
            socket
                .bind(&SockAddr::from(SocketAddr::new(from, 0)))
                .unwrap_or_else(|e| panic!("bind {from}: {e}"));
        }
        match socket.connect_timeout(&SockAddr::from(to), timeout) {
            Ok(()) => {
                let mut stream: std::net::TcpStream = socket.into();
                stream.set_read_timeout(Some(timeout)).expect("timeout");
                let mut greeting = Vec::new();
                let _: std::io::Result<usize> = stream.read_to_end(&mut greeting);
                assert_eq!(greeting, GREETING, "unexpected greeting from {to}");
                Tcp::Open
            }
            Err(e) if e.kind() == ErrorKind::ConnectionRefused => Tcp::Closed,
            Err(e) if matches!(e.kind(), ErrorKind::TimedOut | ErrorKind::WouldBlock) => {
                Tcp::Filtered
            }
            Err(e)
                if matches!(
                    e.raw_os_error(),
                    Some(libc::ENETUNREACH | libc::EHOSTUNREACH)
                ) =>
            {
                Tcp::Unreachable
            }
            Err(e) => panic!("connect {to}: {e}"),
        }
    })
}

/// Sends a datagram from `ns` (optionally from `from`) to `to` and waits for the echo.
///
/// # Panics
/// When the socket cannot be made or the datagram sent.
#[must_use]
pub fn udp(ns: &Netns, from: Option<IpAddr>, to: SocketAddr, timeout: Duration) -> Udp {
    datagram(ns, from, to, timeout, false)
}

/// [`udp`] over UDP-Lite.
///
/// # Panics
/// When the socket cannot be made or the datagram sent.
#[must_use]
pub fn udplite(ns: &Netns, from: Option<IpAddr>, to: SocketAddr, timeout: Duration) -> Udp {
    datagram(ns, from, to, timeout, true)
}

fn datagram(
    ns: &Netns,
    from: Option<IpAddr>,
    to: SocketAddr,
    timeout: Duration,
    lite: bool,
) -> Udp {
    ns.enter(move || {
        let local = from.unwrap_or(match to {
            SocketAddr::V4(_) => IpAddr::from([0, 0, 0, 0]),
            SocketAddr::V6(_) => IpAddr::from([0u16; 8]),
        });
        let socket = if lite {
            let domain = Domain::for_address(to);
            let socket = super::services::udplite_socket(domain).expect("udplite socket");
            socket
                .bind(&SocketAddr::new(local, 0).into())
                .expect("bind udplite");
            UdpSocket::from(socket)
        } else {
            UdpSocket::bind((local, 0)).expect("bind udp")
        };
        socket.set_read_timeout(Some(timeout)).expect("timeout");
        socket.send_to(b"fwxdp-probe", to).expect("send");
        let mut buf = [0u8; 64];
        match socket.recv_from(&mut buf) {
            Ok((len, peer)) if peer == to && &buf[..len] == b"fwxdp-probe" => Udp::Reply,
            Ok((_, peer)) => panic!("unexpected datagram from {peer}"),
            // A port unreachable answer (nothing listens) also means nothing was filtered,
            // but the lab always probes ports that have a listener.
            Err(_) => Udp::Silent,
        }
    })
}
