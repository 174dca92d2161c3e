//! The addresses of a parsed packet, read from its IP header where a verdict needs them.

use core::ptr::read_unaligned;

use fwxdp_common::FAMILY_V4;

use super::Packet;

/// Where the addresses lie in each family's fixed header.
const IPV4_SRC: usize = 12;
const IPV4_DST: usize = 16;
const IPV6_SRC: usize = 8;
const IPV6_DST: usize = 24;

impl Packet {
    /// The source address, network order; IPv4 in the first four bytes. Only for an IP packet.
    #[inline(always)]
    pub(crate) fn src(&self) -> [u8; 16] {
        self.address(IPV4_SRC, IPV6_SRC)
    }

    /// The destination address, as [`Packet::src`].
    #[inline(always)]
    pub(crate) fn dst(&self) -> [u8; 16] {
        self.address(IPV4_DST, IPV6_DST)
    }

    #[inline(always)]
    fn address(&self, v4: usize, v6: usize) -> [u8; 16] {
        // SAFETY: `ip` is the fixed header of this family, which holds the address; the
        // reads are unaligned.
        unsafe {
            if self.family == FAMILY_V4 {
                // Words, not bytes: LLVM turns twelve zero bytes into a call to a memset
                // loop, which costs the verifier and every packet.
                let v4 = read_unaligned((self.ip + v4) as *const u32);
                core::mem::transmute::<[u32; 4], [u8; 16]>([v4, 0, 0, 0])
            } else {
                read_unaligned((self.ip + v6) as *const [u8; 16])
            }
        }
    }

    /// Whether either address is a loopback one: `127.0.0.0/8`, `::1` or
    /// `::ffff:127.0.0.0/104`. Reads one byte of each address unless it starts with zero.
    #[inline(always)]
    pub(crate) fn is_loopback(&self) -> bool {
        if self.family == FAMILY_V4 {
            // SAFETY: as in `address`.
            let (src, dst) = unsafe {
                (
                    *((self.ip + IPV4_SRC) as *const u8),
                    *((self.ip + IPV4_DST) as *const u8),
                )
            };
            return src == 127 || dst == 127;
        }
        self.is_loopback_v6(IPV6_SRC) || self.is_loopback_v6(IPV6_DST)
    }

    #[inline(always)]
    fn is_loopback_v6(&self, at: usize) -> bool {
        // SAFETY: as in `address`.
        if unsafe { *((self.ip + at) as *const u8) } != 0 {
            return false;
        }
        // SAFETY: as in `address`.
        let addr = unsafe { read_unaligned((self.ip + at) as *const [u8; 16]) };
        let head = u64::from_be_bytes([
            addr[0], addr[1], addr[2], addr[3], addr[4], addr[5], addr[6], addr[7],
        ]);
        let mid = u32::from_be_bytes([addr[8], addr[9], addr[10], addr[11]]);
        let tail = u32::from_be_bytes([addr[12], addr[13], addr[14], addr[15]]);
        head == 0 && ((mid == 0 && tail == 1) || (mid == 0xffff && addr[12] == 127))
    }
}
