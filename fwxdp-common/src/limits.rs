//! Per-source rate limits: the limit table and the state kept per source.

use crate::policy::GENERATIONS;
#[cfg(doc)]
use crate::{FAMILY_V4, FAMILY_V6, Proto, map_name};
use bytemuck::{Pod, Zeroable};

/// Capacity of [`map_name::LIMITS`]: the (proto, port) pairs with a limit, both generations.
pub const LIMITS_MAX_ENTRIES: u32 = GENERATIONS * 1_024;
/// Capacity of [`map_name::RATES`]: sources tracked across all limited ports; the least
/// recently used is forgotten first.
pub const RATES_MAX_ENTRIES: u32 = 32_768;
/// Capacity of [`map_name::LIMIT_DROPS`].
pub const LIMIT_DROPS_MAX_ENTRIES: u32 = LIMITS_MAX_ENTRIES;
/// The largest connection count a limit may allow per window: the size of
/// [`RateState::stamps`].
pub const LIMIT_MAX_COUNT: u32 = 16;
/// The longest window a limit may have (one day), well inside the wrap of the 32-bit
/// millisecond clock [`RateState`] keeps.
pub const LIMIT_MAX_WINDOW_MS: u32 = 86_400_000;

/// Key of [`map_name::LIMITS`].
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Pod, Zeroable)]
pub struct LimitKey {
    /// The policy generation the limit belongs to (0 or 1).
    pub generation: u8,
    /// A [`Proto`] value.
    pub proto: u8,
    /// Destination port, host byte order.
    pub port: u16,
}
const _: () = assert!(size_of::<LimitKey>() == 4);

/// A per-source rate limit: at most `count` new connections in any `window_ms`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Pod, Zeroable)]
pub struct Limit {
    /// 1 to [`LIMIT_MAX_COUNT`].
    pub count: u32,
    /// 1 to [`LIMIT_MAX_WINDOW_MS`].
    pub window_ms: u32,
}
const _: () = assert!(size_of::<Limit>() == 8);

/// Key of [`map_name::RATES`]: a source on a limited (proto, port). IPv6 sources are
/// grouped by /64 (the rest of the address is zero), as one host usually holds a /64.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Pod, Zeroable)]
pub struct RateKey {
    /// A [`Proto`] value.
    pub proto: u8,
    /// [`FAMILY_V4`] or [`FAMILY_V6`].
    pub family: u8,
    /// Destination port, host byte order.
    pub port: u16,
    /// Source address (or /64), network byte order; IPv4 in the first four bytes.
    pub addr: [u8; 16],
}
const _: () = assert!(size_of::<RateKey>() == 20);

/// The admitted new connections of one source: a ring of their times (milliseconds of the
/// monotonic clock, wrapping) of which the oldest is at `next` once `used` reaches the
/// limit's count.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Pod, Zeroable)]
pub struct RateState {
    pub stamps: [u32; LIMIT_MAX_COUNT as usize],
    /// The slot the next admission writes.
    pub next: u32,
    /// How many slots hold an admission.
    pub used: u32,
}
const _: () = assert!(size_of::<RateState>() == 72);
