//! The blocklist: its trie key, entries and counts.

#[cfg(doc)]
use crate::{FAMILY_V4, FAMILY_V6, map_name};
use bytemuck::{Pod, Zeroable};

/// Capacity of [`map_name::BLOCKS`]. The trie allocates per entry, so the capacity costs
/// nothing until used.
pub const BLOCKS_MAX_ENTRIES: u32 = 131_072;
/// [`BlockKey::scope_be`] of a block on every interface.
pub const BLOCK_SCOPE_ALL: u32 = 0;
/// Bits of [`BlockKey`] before the address: scope, family and pad, always matched in full.
pub const BLOCK_KEY_FIXED_BITS: u32 = 64;

/// [`BlockKey::scope_be`] of the blocks of the interface called `name`: a hash of the name
/// (FNV-1a), never [`BLOCK_SCOPE_ALL`]. Blocks follow the name, so a re-created interface
/// keeps them; two names that collide share their blocks (more is blocked, never less).
#[must_use]
pub const fn block_scope(name: &[u8]) -> u32 {
    let mut hash: u32 = 0x811c_9dc5;
    let mut i = 0;
    while i < name.len() {
        hash ^= name[i] as u32;
        hash = hash.wrapping_mul(0x0100_0193);
        i += 1;
    }
    if hash == BLOCK_SCOPE_ALL { 1 } else { hash }
}

/// The data part of an LPM trie key in [`map_name::BLOCKS`]: the prefix length is
/// [`BLOCK_KEY_FIXED_BITS`] plus the blocked network's own.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Pod, Zeroable)]
pub struct BlockKey {
    /// [`BLOCK_SCOPE_ALL`], or the [`block_scope`] of one interface's name; network byte
    /// order, so that the key is matched byte by byte.
    pub scope_be: u32,
    /// [`FAMILY_V4`] or [`FAMILY_V6`].
    pub family: u8,
    pub _pad: [u8; 3],
    /// The source address, network byte order; IPv4 in the first four bytes.
    pub addr: [u8; 16],
}
const _: () = assert!(size_of::<BlockKey>() == 24);

/// How many entries [`map_name::BLOCKS`] holds, by kind. Userspace raises a count before it
/// adds an entry and lowers it after it removes one, so a count is never below the truth:
/// an interrupted change costs a lookup that finds nothing, never a block skipped.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Pod, Zeroable)]
pub struct BlockCounts {
    /// Entries with [`BLOCK_SCOPE_ALL`].
    pub all: u32,
    /// Entries scoped to an interface's name, of any name.
    pub scoped: u32,
}
const _: () = assert!(size_of::<BlockCounts>() == 8);

/// The value of a [`map_name::BLOCKS`] entry.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Pod, Zeroable)]
pub struct BlockEntry {
    /// When the block ends (monotonic clock, ns, as `bpf_ktime_get_ns`); 0 for never.
    pub expires_ns: u64,
    /// The entry's own prefix length in the trie: a lookup does not say which entry
    /// matched, and the program needs it to look past an expired one.
    pub prefix_len: u32,
    pub _pad: u32,
    /// The interface name the block is scoped to, NUL-padded; all zero for every
    /// interface. Userspace only: the scope hash cannot be read back into a name.
    pub iface: [u8; 16],
}
const _: () = assert!(size_of::<BlockEntry>() == 32);
