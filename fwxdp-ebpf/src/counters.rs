//! Per-CPU counters: per reason, drops per (proto, port) for port and rate-limit drops, and
//! per IP protocol number.

use core::ptr::write_volatile;

use aya_ebpf::{bindings::BPF_NOEXIST, helpers::bpf_ktime_get_ns};
use fwxdp_common::{
    Counter, PORT_DROPS_MAX_ENTRIES, PORT_PROBES, PortKey, Proto, Reason, port_slot_home,
    port_slot_key,
};

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

/// A port drop, in this CPU's slot for the port: the first of its probe window that holds
/// it, or else the first free one, taken. Array lookups, which the kernel inlines, rather
/// than a hash: a flood pays one and two adds.
#[inline(always)]
fn count_port_drop(proto: Proto, port: u16, bytes: u64) {
    let key = port_slot_key(proto, port);
    let home = port_slot_home(key);
    for probe in 0..PORT_PROBES {
        let index = (home + probe) & (PORT_DROPS_MAX_ENTRIES - 1);
        let Some(slot) = FWXDP_PORT_DROPS.get_ptr_mut(index) else {
            break;
        };
        // SAFETY: from a successful lookup in a per-CPU array: this CPU is its only writer
        // while the program runs; the helper has no preconditions.
        unsafe {
            let taken = (*slot).key;
            if taken == key {
                (*slot).packets += 1;
                (*slot).bytes += bytes;
                return;
            }
            if taken == 0 {
                // In this order, which readers on other CPUs rely on (`PortSlot`): the
                // counts and the time before the key.
                write_volatile(&raw mut (*slot).packets, 1);
                write_volatile(&raw mut (*slot).bytes, bytes);
                write_volatile(&raw mut (*slot).first_seen, bpf_ktime_get_ns());
                write_volatile(&raw mut (*slot).key, key);
                return;
            }
        }
    }
    if let Some(counter) = FWXDP_PORT_OVERFLOW.get_ptr_mut(proto as u32) {
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

#[inline(always)]
fn add(counter: *mut Counter, bytes: u64) {
    // SAFETY: `counter` comes from a successful lookup in a per-CPU map, so this CPU is its
    // only writer while the program runs.
    unsafe {
        (*counter).packets += 1;
        (*counter).bytes += bytes;
    }
}
