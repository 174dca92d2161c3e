//! Per-CPU counters: per reason, drops per (proto, port) for port and rate-limit drops, and
//! per IP protocol number.

use aya_ebpf::{bindings::BPF_NOEXIST, helpers::bpf_ktime_get_ns};
use fwxdp_common::{Counter, PortCounter, PortKey, Proto, Reason};

use crate::{
    maps::{
        FWXDP_LIMIT_DROPS, FWXDP_PORT_DROPS, FWXDP_PORT_OVERFLOW, FWXDP_PROTOCOL_DROPS,
        FWXDP_REASONS,
    },
    verdict::Verdict,
};

/// Counts one frame of `bytes` bytes under its verdict.
#[inline(always)]
pub(crate) fn count(verdict: &Verdict, bytes: u64) {
    if let Some(counter) = FWXDP_REASONS.get_ptr_mut(verdict.reason as u32) {
        add(counter, bytes);
    }
    if let Some((proto, port)) = verdict.port {
        if verdict.reason == Reason::Ratelimit {
            count_limit_drop(proto, port, bytes);
        } else {
            count_port_drop(proto, port, bytes);
        }
    }
    if let Some(protocol) = verdict.protocol
        && let Some(counter) = FWXDP_PROTOCOL_DROPS.get_ptr_mut(u32::from(protocol))
    {
        add(counter, bytes);
    }
}

#[inline(always)]
fn count_port_drop(proto: Proto, port: u16, bytes: u64) {
    let key = PortKey {
        port,
        proto: proto as u8,
        _pad: 0,
    };
    if let Some(counter) = FWXDP_PORT_DROPS.get_ptr_mut(key) {
        // SAFETY: from a successful lookup in a per-CPU map: this CPU is its only writer.
        unsafe { add_port(counter, bytes) };
        return;
    }
    // A port's first drop: note when, so userspace knows which ports came first.
    let first = PortCounter {
        packets: 1,
        bytes,
        // SAFETY: kernel helper without preconditions.
        first_seen: unsafe { bpf_ktime_get_ns() },
    };
    if FWXDP_PORT_DROPS
        .insert(key, first, u64::from(BPF_NOEXIST))
        .is_ok()
    {
        return;
    }
    // Another CPU inserted the key first, or the map is full.
    if let Some(counter) = FWXDP_PORT_DROPS.get_ptr_mut(key) {
        // SAFETY: as above.
        unsafe { add_port(counter, bytes) };
    } else if let Some(counter) = FWXDP_PORT_OVERFLOW.get_ptr_mut(proto as u32) {
        add(counter, bytes);
    }
}

/// A rate-limit drop, per (proto, port): the limited ports are few (bounded by
/// [`fwxdp_common::LIMITS_MAX_ENTRIES`]), so a full map only means a lost count.
#[inline(always)]
fn count_limit_drop(proto: Proto, port: u16, bytes: u64) {
    let key = PortKey {
        port,
        proto: proto as u8,
        _pad: 0,
    };
    if let Some(counter) = FWXDP_LIMIT_DROPS.get_ptr_mut(key) {
        add(counter, bytes);
        return;
    }
    let first = Counter { packets: 1, bytes };
    if FWXDP_LIMIT_DROPS
        .insert(key, first, u64::from(BPF_NOEXIST))
        .is_err()
        && let Some(counter) = FWXDP_LIMIT_DROPS.get_ptr_mut(key)
    {
        // Another CPU inserted the key first.
        add(counter, bytes);
    }
}

/// # Safety
/// `counter` must come from a successful lookup in a per-CPU map.
#[inline(always)]
unsafe fn add_port(counter: *mut PortCounter, bytes: u64) {
    // SAFETY: the caller's promise: this CPU is the only writer of this slot.
    unsafe {
        (*counter).packets += 1;
        (*counter).bytes += bytes;
    }
}

#[inline(always)]
fn add(counter: *mut Counter, bytes: u64) {
    // SAFETY: `counter` comes from a successful lookup in a per-CPU map, so this CPU is its
    // only writer while the program runs.
    unsafe {
        (*counter).packets += 1;
        (*counter).bytes += bytes;
    }
}
