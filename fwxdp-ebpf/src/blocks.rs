//! The blocklist: sources dropped on every port and protocol, before the allow policy. One
//! trie holds the blocks of every interface and those of each interface's name; an entry
//! may carry an expiry, which is checked here. Expired entries stay until userspace prunes
//! them; the program looks past them.

use aya_ebpf::{helpers::bpf_ktime_get_ns, maps::lpm_trie::Key};
use fwxdp_common::{BLOCK_KEY_FIXED_BITS, BLOCK_SCOPE_ALL, BlockKey, FAMILY_V4};

use crate::{
    maps::{FWXDP_BLOCK_COUNTS, FWXDP_BLOCKS},
    parse::Packet,
};

/// Expired entries looked past per scope. Nested blocks of one address are rare; past this
/// many expired ones the source counts as blocked (fail closed) until they are pruned.
const EXPIRED_MAX: usize = 3;

/// Whether the packet's source is blocked on every interface or on this one (`scope`). The
/// trie is only searched for the kinds of entry it holds: with no blocks, a verdict pays
/// one array lookup.
#[inline(always)]
pub(crate) fn blocked(scope: u32, packet: &Packet) -> bool {
    let Some(counts) = FWXDP_BLOCK_COUNTS.get(0) else {
        return false;
    };
    let scoped = if counts.scoped != 0 {
        scope
    } else {
        BLOCK_SCOPE_ALL
    };
    if counts.all == 0 && scoped == BLOCK_SCOPE_ALL {
        return false;
    }
    // Built as three words, not field by field: LLVM turns the zero padding into a call to
    // a byte-by-byte memset, which every packet would pay while blocks exist. The layout is
    // `BlockKey`'s on a little-endian target: scope, family, three bytes of padding, address.
    // SAFETY: both are plain 16-byte and 24-byte integer arrays and structs.
    let data: BlockKey = unsafe {
        let [lo, hi] = core::mem::transmute::<[u8; 16], [u64; 2]>(packet.src());
        let head = u64::from(BLOCK_SCOPE_ALL) | u64::from(packet.family) << 32;
        core::mem::transmute::<[u64; 3], BlockKey>([head, lo, hi])
    };
    let addr_bits = if packet.family == FAMILY_V4 { 32 } else { 128 };
    search(&data, addr_bits, counts.all != 0, scoped)
}

/// The trie searches. Inlined: as a function of its own (a BPF subprogram) the verifier
/// took twice as long over the whole program.
#[inline(always)]
fn search(data: &BlockKey, addr_bits: u32, all: bool, scoped: u32) -> bool {
    let mut data = *data;
    if all && in_force(&data, addr_bits) {
        return true;
    }
    if scoped == BLOCK_SCOPE_ALL {
        return false;
    }
    data.scope_be = scoped.to_be();
    in_force(&data, addr_bits)
}

#[inline(always)]
fn in_force(data: &BlockKey, addr_bits: u32) -> bool {
    let mut prefix_len = BLOCK_KEY_FIXED_BITS + addr_bits;
    for _ in 0..=EXPIRED_MAX {
        // The longest entry no longer than `prefix_len` that holds the address.
        let Some(entry) = FWXDP_BLOCKS.get(Key::new(prefix_len, *data)) else {
            return false;
        };
        // SAFETY: kernel helper without preconditions.
        if entry.expires_ns == 0 || unsafe { bpf_ktime_get_ns() } < entry.expires_ns {
            return true;
        }
        // Expired: look for a shorter one. An entry shorter than the fixed part cannot
        // exist; userspace writes none.
        if entry.prefix_len <= BLOCK_KEY_FIXED_BITS || entry.prefix_len > prefix_len {
            return false;
        }
        prefix_len = entry.prefix_len - 1;
    }
    true
}
