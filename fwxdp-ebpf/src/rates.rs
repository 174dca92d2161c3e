//! Per-source rate limits on new connections: at most `count` admitted in any window, per
//! source address (IPv6: per /64), tracked in an LRU map of recent admission times.

use aya_ebpf::helpers::bpf_ktime_get_ns;
use fwxdp_common::{FAMILY_V4, LIMIT_MAX_COUNT, LimitKey, Proto, RateKey, RateState};

use crate::{
    maps::{FWXDP_LIMITS, FWXDP_RATES},
    parse::Packet,
};

const SLOT_MASK: u32 = LIMIT_MAX_COUNT - 1;
const _: () = assert!(LIMIT_MAX_COUNT.is_power_of_two());

/// Whether a new connection to the limited (`proto`, `port`) is within its source's limit;
/// if so it is recorded. A port without a limit for `proto`, or a source the map cannot
/// take, is admitted: the port is open, the limit only narrows it.
///
/// Check and record are not one atomic step: two connections from one source that arrive
/// at the same moment on two CPUs may both be admitted as the last one in the window.
#[inline(always)]
pub(crate) fn admit(generation: u8, proto: Proto, port: u16, packet: &Packet) -> bool {
    let limit_key = LimitKey {
        generation,
        proto: proto as u8,
        port,
    };
    // SAFETY: a hash lookup; the value is plain data that userspace replaces whole.
    let Some(limit) = (unsafe { FWXDP_LIMITS.get(limit_key) }) else {
        return true;
    };
    let count = limit.count.clamp(1, LIMIT_MAX_COUNT);
    let window = limit.window_ms;
    let mut addr = packet.src();
    if packet.family != FAMILY_V4 {
        // One host usually holds a whole /64.
        addr[8..].fill(0);
    }
    let key = RateKey {
        proto: proto as u8,
        family: packet.family,
        port,
        addr,
    };
    // Milliseconds, wrapping at 49 days: the window is at most a day, so differences stay
    // meaningful.
    #[expect(
        clippy::cast_possible_truncation,
        reason = "a wrapping millisecond clock; only differences are compared"
    )]
    // SAFETY: kernel helper without preconditions.
    let now = (unsafe { bpf_ktime_get_ns() } / 1_000_000) as u32;
    let Some(state) = FWXDP_RATES.get_ptr_mut(key) else {
        let mut state = RateState::default();
        state.stamps[0] = now;
        state.next = u32::from(count != 1);
        state.used = 1;
        // A full map evicts its least recently used source; a failed insert admits.
        let _: Result<(), _> = FWXDP_RATES.insert(key, state, 0);
        return true;
    };
    // SAFETY: the pointer comes from a successful lookup of an LRU hash value; the fields
    // are plain integers, and `& SLOT_MASK` keeps the index inside the ring.
    unsafe {
        let next = (*state).next & SLOT_MASK;
        let used = (*state).used;
        if used >= count {
            let oldest = (*state).stamps[next as usize];
            if now.wrapping_sub(oldest) < window {
                return false;
            }
        } else {
            (*state).used = used + 1;
        }
        (*state).stamps[next as usize] = now;
        (*state).next = if next + 1 >= count { 0 } else { next + 1 };
    }
    true
}
