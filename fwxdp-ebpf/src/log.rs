//! The drop log: an event per dropped packet into a ring buffer, at most
//! [`Config::log_rate`] a second on each CPU. What the bound or a full ring leaves out is
//! counted, so userspace can say how much it did not see.

use aya_ebpf::helpers::{bpf_jiffies64, bpf_ktime_get_ns};
use fwxdp_common::{Config, DropEvent, LOG_WINDOW_NS, Reason, TCP_FLAG_ACK, TCP_FLAG_SYN};

use crate::{
    maps::{FWXDP_LOG, FWXDP_LOG_STATE},
    parse::{Kind, Packet, Transport},
};

/// Logs a dropped frame of `bytes` bytes, unless this CPU's events for the window are spent.
#[inline(always)]
pub(crate) fn dropped(config: &Config, packet: &Packet, reason: Reason, bytes: u64) {
    let rate = config.log_rate;
    if rate == 0 {
        return;
    }
    let Some(state) = FWXDP_LOG_STATE.get_ptr_mut(0) else {
        return;
    };
    // The clock at most once a tick: jiffies are a variable, the clock a TSC read (a quarter
    // of a flooded drop's cost in a VM). So a window turns over within a tick of its end.
    #[expect(clippy::cast_possible_truncation, reason = "only compared for change")]
    // SAFETY: kernel helper without preconditions.
    let tick = unsafe { bpf_jiffies64() } as u32;
    // SAFETY: from a successful lookup in a per-CPU array: this CPU is its only writer while
    // the program runs; the helper has no preconditions.
    unsafe {
        if tick != (*state).tick {
            (*state).tick = tick;
            let now = bpf_ktime_get_ns();
            if now.wrapping_sub((*state).window_start_ns) >= LOG_WINDOW_NS {
                (*state).window_start_ns = now;
                (*state).sent = 0;
            }
        }
        if (*state).sent >= rate {
            (*state).suppressed += 1;
            return;
        }
    }
    // SAFETY: kernel helper without preconditions.
    let now = unsafe { bpf_ktime_get_ns() };
    let Some(mut entry) = FWXDP_LOG.reserve::<DropEvent>(0) else {
        // SAFETY: as above.
        unsafe { (*state).lost += 1 };
        return;
    };
    let ip = packet.kind == Kind::Ip;
    let (src, dst) = if ip {
        (packet.src(), packet.dst())
    } else {
        ([0; 16], [0; 16])
    };
    let tcp_flags = if packet.transport == Transport::Tcp {
        (if packet.syn { TCP_FLAG_SYN } else { 0 }) | (if packet.ack { TCP_FLAG_ACK } else { 0 })
    } else {
        0
    };
    entry.write(DropEvent {
        time_ns: now,
        len: u32::try_from(bytes).unwrap_or(u32::MAX),
        reason: reason as u8,
        family: if ip { packet.family } else { 0 },
        protocol: if ip { packet.ip_proto } else { 0 },
        tcp_flags,
        src,
        dst,
        src_port: packet.src_port,
        dst_port: packet.dst_port,
        _pad: 0,
    });
    entry.submit(0);
    // SAFETY: as above.
    unsafe { (*state).sent += 1 };
}
