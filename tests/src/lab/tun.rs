//! A `tun` device in a lab namespace: an interface without a link layer whose frames start
//! at the IP header, as an IP tunnel's, a VPN's or a wireguard device's do. Packets written to it
//! arrive on the interface; what the host sends through it is read back.

use std::{
    fs::{File, OpenOptions},
    io::{ErrorKind, Read as _, Write as _},
    os::{fd::AsRawFd as _, unix::fs::OpenOptionsExt as _},
    time::{Duration, Instant},
};

use super::netns::Netns;

/// The device, alive as long as this is.
pub struct Tun {
    file: File,
}

impl Tun {
    /// Makes the `tun` device `name` in `ns` (no packet information header).
    ///
    /// # Panics
    /// When `/dev/net/tun` cannot be opened or the device made.
    #[must_use]
    pub fn create(ns: &Netns, name: &str) -> Self {
        let name = name.to_owned();
        let file = ns.enter(move || {
            let file = OpenOptions::new()
                .read(true)
                .write(true)
                .custom_flags(libc::O_NONBLOCK)
                .open("/dev/net/tun")
                .expect("open /dev/net/tun");
            // SAFETY: ifreq is plain data; all-zero is a valid value.
            let mut request: libc::ifreq = unsafe { std::mem::zeroed() };
            for (slot, byte) in request.ifr_name.iter_mut().zip(name.bytes()) {
                *slot = byte.cast_signed();
            }
            request.ifr_ifru.ifru_flags =
                i16::try_from(libc::IFF_TUN | libc::IFF_NO_PI).expect("flags fit");
            // SAFETY: TUNSETIFF takes an ifreq, valid for the call.
            let rc = unsafe { libc::ioctl(file.as_raw_fd(), libc::TUNSETIFF, &raw mut request) };
            assert_eq!(
                rc,
                0,
                "TUNSETIFF {name}: {}",
                std::io::Error::last_os_error()
            );
            file
        });
        Self { file }
    }

    /// Delivers `packet` (an IP packet) as if it arrived on the device.
    ///
    /// # Panics
    /// When the write fails.
    pub fn inject(&mut self, packet: &[u8]) {
        self.file
            .write_all(packet)
            .expect("write to the tun device");
    }

    /// The packets the host sends through the device within `wait`.
    ///
    /// # Panics
    /// When reading fails other than by having nothing to read.
    #[must_use]
    pub fn sent(&mut self, wait: Duration) -> Vec<Vec<u8>> {
        let deadline = Instant::now() + wait;
        let mut packets = Vec::new();
        let mut buf = vec![0; 65_536];
        while Instant::now() < deadline {
            match self.file.read(&mut buf) {
                Ok(len) => packets.push(buf[..len].to_vec()),
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    std::thread::sleep(Duration::from_millis(5));
                }
                Err(e) => panic!("read the tun device: {e}"),
            }
        }
        packets
    }
}

/// Whether `packet` (IPv4) is a TCP SYN-ACK from port `port` to port `to` (the answer to
/// one SYN: a listener retransmits the SYN-ACKs of earlier ones).
#[must_use]
pub fn is_syn_ack(packet: &[u8], port: u16, to: u16) -> bool {
    let header = usize::from(packet.first().map_or(0, |b| b & 0x0f)) * 4;
    packet.first().is_some_and(|b| b >> 4 == 4)
        && packet.get(9) == Some(&6)
        && packet.get(header..header + 2) == Some(&port.to_be_bytes()[..])
        && packet.get(header + 2..header + 4) == Some(&to.to_be_bytes()[..])
        && packet.get(header + 13).is_some_and(|f| f & 0x12 == 0x12)
}
