//! The frames the fuzz judges: corpus frames mutated where the verdict looks, and random
//! bytes behind a plausible Ethernet header.

use fwxdp_tests::packet::{ACK, RST, SYN, TPID_8021AD, TPID_8021Q};

use crate::{corpus::Seed, rng::Rng};

/// A frame to judge: a corpus frame with up to four mutations, or (one in sixteen) bytes
/// that are random past a plausible Ethernet header.
pub(crate) fn frame(rng: &mut Rng, corpus: &[Seed]) -> Vec<u8> {
    if rng.below(16) == 0 {
        let len = rng.below(160);
        let mut bytes: Vec<u8> = (0..len).map(|_| rng.byte()).collect();
        if len >= 14 {
            let ether_type: u16 = rng.pick(&[0x0800, 0x86dd, 0x8100, 0x88a8, 0x0806]);
            bytes[12..14].copy_from_slice(&ether_type.to_be_bytes());
        }
        return bytes;
    }
    let seed = &corpus[rng.below(corpus.len())];
    let mut bytes = seed.bytes.clone();
    for _ in 0..rng.below(5) {
        mutate(rng, seed, &mut bytes);
    }
    bytes
}

fn mutate(rng: &mut Rng, seed: &Seed, bytes: &mut Vec<u8>) {
    if bytes.is_empty() {
        return;
    }
    let (net, tr) = (seed.network, seed.transport);
    match rng.below(9) {
        // A header field: version/IHL, lengths, fragment, protocol/next header, hop limit.
        0 => {
            let at = net + rng.pick(&[0, 2, 3, 4, 5, 6, 7, 9]);
            if let Some(b) = bytes.get_mut(at) {
                *b = rng.byte();
            }
        }
        // The ports, or the TCP flags.
        1 => {
            let at = tr + rng.pick(&[0, 1, 2, 3, 13]);
            if let Some(b) = bytes.get_mut(at) {
                *b = rng.byte();
            }
        }
        2 => {
            let at = tr + 13;
            if let Some(b) = bytes.get_mut(at) {
                *b = rng.pick(&[SYN, ACK, SYN | ACK, RST, 0, 0xff]);
            }
        }
        3 => {
            let len = rng.below(bytes.len() + 1);
            bytes.truncate(len);
        }
        4 => {
            let at = rng.below(bytes.len());
            bytes[at] ^= 1 << rng.below(8);
        }
        5 => {
            let at = rng.below(bytes.len());
            bytes[at] = rng.byte();
        }
        // A VLAN tag, pushed in front of the EtherType.
        6 if bytes.len() >= 14 => {
            let tpid: u16 = rng.pick(&[TPID_8021Q, TPID_8021AD]);
            let mut tag = tpid.to_be_bytes().to_vec();
            tag.extend_from_slice(&[0, rng.byte()]);
            bytes.splice(12..12, tag);
        }
        7 => {
            for _ in 0..rng.below(64) {
                bytes.push(rng.byte());
            }
        }
        // The IPv4 protocol or IPv6 next header set to one the verdict knows.
        _ => {
            let at = if bytes.get(12..14) == Some(&[0x86, 0xdd][..]) {
                net + 6
            } else {
                net + 9
            };
            if let Some(b) = bytes.get_mut(at) {
                *b = rng.pick(&[
                    0, 1, 2, 4, 6, 17, 33, 41, 43, 44, 47, 50, 51, 58, 60, 132, 136,
                ]);
            }
        }
    }
}
