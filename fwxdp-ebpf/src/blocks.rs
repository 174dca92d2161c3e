//! The blocklist: sources dropped on every port and protocol, before the allow policy. One
//! trie holds the blocks of every interface and those of each interface's name; an entry
//! may carry an expiry, which is checked here. Expired entries stay until userspace prunes
//! them; the program looks past them.

use aya_ebpf::{helpers::bpf_ktime_get_ns, maps::lpm_trie::Key};
use fwxdp_common::{BLOCK_KEY_FIXED_BITS, BLOCK_SCOPE_ALL, BlockKey, FAMILY_V4};

use crate::{maps::FWXDP_BLOCKS, parse::Packet};

/// Expired entries looked past per scope. Nested blocks of one address are rare; past this
/// many expired ones the source counts as blocked (fail closed) until they are pruned.
const EXPIRED_MAX: usize = 4;

/// Whether the packet's source is blocked on every interface or on this one (`scope`).
#[inline(always)]
pub(crate) fn blocked(scope: u32, packet: &Packet) -> bool {
    let addr = packet.src();
    let addr_bits = if packet.family == FAMILY_V4 { 32 } else { 128 };
    in_force(BLOCK_SCOPE_ALL, packet.family, addr, addr_bits)
        || (scope != BLOCK_SCOPE_ALL && in_force(scope, packet.family, addr, addr_bits))
}

#[inline(always)]
fn in_force(scope: u32, family: u8, addr: [u8; 16], addr_bits: u32) -> bool {
    let data = BlockKey {
        scope_be: scope.to_be(),
        family,
        _pad: [0; 3],
        addr,
    };
    let mut prefix_len = BLOCK_KEY_FIXED_BITS + addr_bits;
    for _ in 0..=EXPIRED_MAX {
        // The longest entry no longer than `prefix_len` that holds the address.
        let Some(entry) = FWXDP_BLOCKS.get(Key::new(prefix_len, data)) else {
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
