//! IPv6 extension headers, filled with content the Linux stack accepts.

use super::{IPPROTO_AH, IPPROTO_FRAGMENT, IPPROTO_ROUTING};

/// RFC 4727 experimental option type for hop-by-hop and destination options: the two high
/// bits are 00, so a receiver that does not know it skips it.
pub(super) const EXPERIMENTAL_OPTION: u8 = 0x1e;
/// RFC 4727 experimental routing type; with segments left at 0 a receiver ignores it.
pub(super) const EXPERIMENTAL_ROUTING_TYPE: u8 = 253;

#[derive(Clone, Copy, Debug)]
pub(super) enum Extension {
    /// Hop-by-hop, routing, destination options or AH, `len` bytes in all.
    Sized {
        kind: u8,
        len: usize,
    },
    Fragment {
        offset: u16,
        more: bool,
    },
}

impl Extension {
    pub(super) const fn kind(&self) -> u8 {
        match self {
            Self::Sized { kind, .. } => *kind,
            Self::Fragment { .. } => IPPROTO_FRAGMENT,
        }
    }

    pub(super) fn bytes(self, next: u8) -> Vec<u8> {
        match self {
            Self::Fragment { offset, more } => {
                let field = (offset << 3) | u16::from(more);
                let mut out = vec![next, 0];
                out.extend_from_slice(&field.to_be_bytes());
                out.extend_from_slice(&0x1234_5678u32.to_be_bytes());
                out
            }
            Self::Sized { kind, len } => {
                let units = if kind == IPPROTO_AH {
                    len / 4 - 2
                } else {
                    len / 8 - 1
                };
                let units = u8::try_from(units).expect("checked by ipv6_ext");
                let mut out = vec![next, units];
                match kind {
                    IPPROTO_ROUTING => {
                        out.extend_from_slice(&[EXPERIMENTAL_ROUTING_TYPE, 0]);
                    }
                    IPPROTO_AH => {
                        out.extend_from_slice(&[0, 0]);
                        out.extend_from_slice(&0x100u32.to_be_bytes()); // SPI
                        out.extend_from_slice(&1u32.to_be_bytes()); // sequence number
                    }
                    _ => options_fill(&mut out, len - 2),
                }
                out.resize(len, 0);
                out
            }
        }
    }
}

/// Fills `len` bytes of a hop-by-hop or destination options header with experimental
/// options. Linux rejects more than 7 bytes of padding in a row, so padding options would
/// not do for long headers.
fn options_fill(out: &mut Vec<u8>, mut len: usize) {
    // An option is 2 bytes of type and length plus up to 255 bytes of data.
    const MAX_OPTION: usize = 257;
    while len >= 2 {
        let mut take = len.min(MAX_OPTION);
        if len - take == 1 {
            take -= 1;
        }
        let data_len = u8::try_from(take - 2).expect("option data fits in a byte");
        out.extend_from_slice(&[EXPERIMENTAL_OPTION, data_len]);
        out.resize(out.len() + take - 2, 0);
        len -= take;
    }
    // A lone byte left over is a Pad1 option.
    out.resize(out.len() + len, 0);
}
