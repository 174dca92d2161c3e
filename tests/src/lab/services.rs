//! Real listeners: a TCP service that greets and closes, and a UDP (or UDP-Lite) echo.

use std::{
    io::{ErrorKind, Write as _},
    net::{TcpListener, UdpSocket},
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    thread::{self, JoinHandle},
    time::Duration,
};

use super::netns::Netns;

/// What a lab TCP service writes to every connection.
pub const GREETING: &[u8] = b"fwxdp-lab\n";

/// A listener thread, stopped and joined on drop.
#[derive(Debug)]
pub struct Service {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for Service {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _: thread::Result<()> = thread.join();
        }
    }
}

/// Listens on TCP `port` in `ns` on every address, IPv4 and IPv6.
///
/// # Panics
/// When the port cannot be bound.
#[must_use = "the service stops when dropped"]
pub fn tcp(ns: &Netns, port: u16) -> Service {
    let listener = ns.enter(move || {
        TcpListener::bind(("::", port)).unwrap_or_else(|e| panic!("bind tcp {port}: {e}"))
    });
    listener.set_nonblocking(true).expect("nonblocking");
    let stop = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&stop);
    let thread = thread::spawn(move || {
        while !flag.load(Ordering::Relaxed) {
            match listener.accept() {
                Ok((mut stream, _)) => {
                    let _: std::io::Result<()> = stream.write_all(GREETING);
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    thread::sleep(Duration::from_millis(5));
                }
                Err(_) => thread::sleep(Duration::from_millis(5)),
            }
        }
    });
    Service {
        stop,
        thread: Some(thread),
    }
}

/// Listens on each TCP port of `ports` in `ns`.
#[must_use = "the services stop when dropped"]
pub fn tcp_ports(ns: &Netns, ports: &[u16]) -> Vec<Service> {
    ports.iter().map(|port| tcp(ns, *port)).collect()
}

/// Echoes UDP datagrams on `port` in `ns`, IPv4 and IPv6.
///
/// # Panics
/// When the port cannot be bound.
#[must_use = "the service stops when dropped"]
pub fn udp_echo(ns: &Netns, port: u16) -> Service {
    let socket = ns.enter(move || {
        UdpSocket::bind(("::", port)).unwrap_or_else(|e| panic!("bind udp {port}: {e}"))
    });
    echo(socket)
}

/// Echoes UDP-Lite datagrams on `port` in `ns`, IPv4 and IPv6.
///
/// # Panics
/// When the port cannot be bound (or the kernel has no UDP-Lite).
#[must_use = "the service stops when dropped"]
pub fn udplite_echo(ns: &Netns, port: u16) -> Service {
    let socket = ns.enter(move || {
        let bind = || -> std::io::Result<UdpSocket> {
            let socket = udplite_socket(socket2::Domain::IPV6)?;
            socket.set_only_v6(false)?;
            socket.bind(
                &std::net::SocketAddr::from((std::net::Ipv6Addr::UNSPECIFIED, port)).into(),
            )?;
            Ok(socket.into())
        };
        bind().unwrap_or_else(|e| panic!("bind udplite {port}: {e}"))
    });
    echo(socket)
}

/// A UDP-Lite socket (IP protocol 136): the UDP socket API over another protocol.
///
/// # Errors
/// When the kernel refuses one.
pub fn udplite_socket(domain: socket2::Domain) -> std::io::Result<socket2::Socket> {
    socket2::Socket::new(
        domain,
        socket2::Type::DGRAM,
        Some(socket2::Protocol::from(libc::IPPROTO_UDPLITE)),
    )
}

fn echo(socket: UdpSocket) -> Service {
    socket
        .set_read_timeout(Some(Duration::from_millis(20)))
        .expect("timeout");
    let stop = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&stop);
    let thread = thread::spawn(move || {
        let mut buf = [0u8; 2048];
        while !flag.load(Ordering::Relaxed) {
            if let Ok((len, peer)) = socket.recv_from(&mut buf) {
                let _: std::io::Result<usize> = socket.send_to(&buf[..len], peer);
            }
        }
    });
    Service {
        stop,
        thread: Some(thread),
    }
}
