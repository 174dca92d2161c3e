//! The Internet checksum, and the pseudo-header that TCP, UDP and `ICMPv6` checksums cover.

use std::net::{Ipv4Addr, Ipv6Addr};

/// The addresses that go into a transport checksum's pseudo-header.
pub(super) enum Pseudo {
    V4 { src: Ipv4Addr, dst: Ipv4Addr },
    V6 { src: Ipv6Addr, dst: Ipv6Addr },
}

impl Pseudo {
    pub(super) fn header(&self, protocol: u8, len: usize) -> Vec<u8> {
        match self {
            Self::V4 { src, dst } => {
                let len = u16::try_from(len).expect("transport length fits in 16 bits");
                let mut out = Vec::with_capacity(12);
                out.extend_from_slice(&src.octets());
                out.extend_from_slice(&dst.octets());
                out.extend_from_slice(&[0, protocol]);
                out.extend_from_slice(&len.to_be_bytes());
                out
            }
            Self::V6 { src, dst } => {
                let len = u32::try_from(len).expect("transport length fits in 32 bits");
                let mut out = Vec::with_capacity(40);
                out.extend_from_slice(&src.octets());
                out.extend_from_slice(&dst.octets());
                out.extend_from_slice(&len.to_be_bytes());
                out.extend_from_slice(&[0, 0, 0, protocol]);
                out
            }
        }
    }
}

/// The Internet checksum (RFC 1071) of `data`: the ones' complement of the ones' complement
/// sum of its 16-bit big-endian words, an odd last byte padded with zero.
#[must_use]
pub fn checksum(data: &[u8]) -> u16 {
    // Ones' complement addition: a carry out of the top bit wraps around into the bottom.
    let add = |sum: u16, word: u16| {
        let (total, carry) = sum.overflowing_add(word);
        total + u16::from(carry)
    };
    let mut words = data.chunks_exact(2);
    let mut sum = (&mut words).fold(0, |sum, w| add(sum, u16::from_be_bytes([w[0], w[1]])));
    if let [last] = words.remainder() {
        sum = add(sum, u16::from_be_bytes([*last, 0]));
    }
    !sum
}
