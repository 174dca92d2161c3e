//! Crafted frames sent as they are through an `AF_PACKET` socket.

use std::{io, mem, os::fd::AsRawFd as _};

use super::netns::Netns;

/// Sends every frame in `frames` out of `iface` in `ns`, exactly as given.
///
/// # Panics
/// When the socket cannot be made or a frame cannot be sent.
pub fn send(ns: &Netns, iface: &str, frames: Vec<Vec<u8>>) {
    let iface = iface.to_owned();
    ns.enter(move || {
        let index = nix::net::if_::if_nametoindex(iface.as_str())
            .unwrap_or_else(|e| panic!("no interface {iface}: {e}"));
        // SAFETY: plain socket(2) call; the result is checked.
        let fd = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW, 0) };
        assert!(fd >= 0, "AF_PACKET socket: {}", io::Error::last_os_error());
        // SAFETY: `fd` was just returned by socket(2) and is owned here alone.
        let socket = unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) };
        // SAFETY: sockaddr_ll is plain data; all-zero is a valid value.
        let mut addr: libc::sockaddr_ll = unsafe { mem::zeroed() };
        addr.sll_family = u16::try_from(libc::AF_PACKET).expect("AF_PACKET fits u16");
        addr.sll_ifindex = i32::try_from(index).expect("ifindex fits i32");
        addr.sll_halen = 6;
        for frame in frames {
            addr.sll_addr[..6].copy_from_slice(&frame[..6]);
            // SAFETY: the buffer and address are valid for the lengths given.
            let sent = unsafe {
                libc::sendto(
                    socket.as_raw_fd(),
                    frame.as_ptr().cast(),
                    frame.len(),
                    0,
                    (&raw const addr).cast(),
                    u32::try_from(size_of::<libc::sockaddr_ll>()).expect("size"),
                )
            };
            assert!(
                usize::try_from(sent).is_ok_and(|n| n == frame.len()),
                "send raw frame on {iface}: {}",
                io::Error::last_os_error()
            );
        }
    });
}

/// A packet socket that sees the frames arriving on one interface, to learn whether a host
/// answered: a SYN that reached a listener is answered with a SYN-ACK, whatever the counters say.
pub struct Capture {
    socket: std::os::fd::OwnedFd,
}

impl Capture {
    /// Starts capturing IPv4 frames arriving on `iface` in `ns`.
    ///
    /// # Panics
    /// When the socket cannot be made or bound.
    #[must_use]
    pub fn open(ns: &Netns, iface: &str) -> Self {
        let iface = iface.to_owned();
        let socket = ns.enter(move || {
            let index = nix::net::if_::if_nametoindex(iface.as_str())
                .unwrap_or_else(|e| panic!("no interface {iface}: {e}"));
            let protocol = u16::try_from(libc::ETH_P_IP)
                .expect("ETH_P_IP fits u16")
                .to_be();
            // SAFETY: plain socket(2) call; the result is checked.
            let fd = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW, i32::from(protocol)) };
            assert!(fd >= 0, "AF_PACKET socket: {}", io::Error::last_os_error());
            // SAFETY: `fd` was just returned by socket(2) and is owned here alone.
            let socket =
                unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) };
            // SAFETY: sockaddr_ll is plain data; all-zero is a valid value.
            let mut addr: libc::sockaddr_ll = unsafe { mem::zeroed() };
            addr.sll_family = u16::try_from(libc::AF_PACKET).expect("AF_PACKET fits u16");
            addr.sll_protocol = protocol;
            addr.sll_ifindex = i32::try_from(index).expect("ifindex fits i32");
            // SAFETY: the address is valid for the length given.
            let bound = unsafe {
                libc::bind(
                    socket.as_raw_fd(),
                    (&raw const addr).cast(),
                    u32::try_from(size_of::<libc::sockaddr_ll>()).expect("size"),
                )
            };
            assert!(bound == 0, "bind capture: {}", io::Error::last_os_error());
            socket
        });
        let timeout = libc::timeval {
            tv_sec: 0,
            tv_usec: 20_000,
        };
        // SAFETY: the option value is a valid timeval for the length given.
        let set = unsafe {
            libc::setsockopt(
                socket.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVTIMEO,
                (&raw const timeout).cast(),
                u32::try_from(size_of::<libc::timeval>()).expect("size"),
            )
        };
        assert!(set == 0, "SO_RCVTIMEO: {}", io::Error::last_os_error());
        Self { socket }
    }

    /// Counts the TCP SYN-ACKs from `source`:`port` that arrive until `stop` is set and the
    /// socket has nothing more to read.
    ///
    /// # Panics
    /// When reading fails other than by timing out.
    #[must_use]
    pub fn syn_acks_from(
        &self,
        source: std::net::Ipv4Addr,
        port: u16,
        stop: &std::sync::atomic::AtomicBool,
    ) -> u64 {
        let mut count = 0;
        let mut frame = [0u8; 2048];
        loop {
            match self.recv(&mut frame) {
                Some(length) => count += u64::from(is_syn_ack_from(&frame[..length], source, port)),
                None if stop.load(std::sync::atomic::Ordering::Relaxed) => return count,
                None => {}
            }
        }
    }

    /// The next frame into `frame`: its length, or `None` when the read timed out.
    fn recv(&self, frame: &mut [u8]) -> Option<usize> {
        // SAFETY: the buffer is valid for writes of its length.
        let read = unsafe {
            libc::recv(
                self.socket.as_raw_fd(),
                frame.as_mut_ptr().cast(),
                frame.len(),
                0,
            )
        };
        if let Ok(length) = usize::try_from(read) {
            return Some(length);
        }
        let error = io::Error::last_os_error();
        assert!(
            matches!(
                error.kind(),
                io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
            ),
            "read capture: {error}"
        );
        None
    }
}

impl Capture {
    /// The sequence number of the first SYN-ACK from `source`:`port` to `to_port` that
    /// arrives within `timeout` (with SYN cookies on, the cookie).
    ///
    /// # Panics
    /// When reading fails other than by timing out.
    #[must_use]
    pub fn syn_ack_seq(
        &self,
        source: std::net::Ipv4Addr,
        port: u16,
        to_port: u16,
        timeout: std::time::Duration,
    ) -> Option<u32> {
        let deadline = std::time::Instant::now() + timeout;
        let mut frame = [0u8; 2048];
        while std::time::Instant::now() < deadline {
            let Some(length) = self.recv(&mut frame) else {
                continue;
            };
            let frame = &frame[..length];
            if !is_syn_ack_from(frame, source, port) {
                continue;
            }
            let header = usize::from(frame[14] & 0x0f) * 4;
            let tcp = &frame[14 + header..];
            if tcp.get(2..4) == Some(&to_port.to_be_bytes()[..])
                && let Some(seq) = tcp.get(4..8)
            {
                return Some(u32::from_be_bytes([seq[0], seq[1], seq[2], seq[3]]));
            }
        }
        None
    }
}

/// Whether `frame` is an Ethernet IPv4 TCP segment from `source`:`port` with SYN and ACK set.
fn is_syn_ack_from(frame: &[u8], source: std::net::Ipv4Addr, port: u16) -> bool {
    const TCP: u8 = 6;
    const SYN_ACK: u8 = 0x12;
    let Some(ip) = frame.get(14..) else {
        return false;
    };
    let header = usize::from(ip.first().map_or(0, |b| b & 0x0f)) * 4;
    let (Some(&protocol), Some(from), Some(tcp)) = (ip.get(9), ip.get(12..16), ip.get(header..))
    else {
        return false;
    };
    header >= 20
        && protocol == TCP
        && from == source.octets()
        && tcp.get(0..2) == Some(&port.to_be_bytes()[..])
        && tcp.get(13).is_some_and(|flags| flags & SYN_ACK == SYN_ACK)
}
