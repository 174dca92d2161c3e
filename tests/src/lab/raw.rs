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
