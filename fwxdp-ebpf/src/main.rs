//! fwxdp's BPF programs: the ingress verdict for XDP and TC, and the egress flow tracker.
#![no_std]
#![no_main]
#![expect(
    clippy::inline_always,
    reason = "one inlined function per program keeps packet-pointer bounds visible to the verifier"
)]
#![expect(
    clippy::needless_pass_by_value,
    reason = "aya's program macros hand the context over by value"
)]

mod blocks;
mod counters;
mod flows;
mod log;
mod maps;
mod parse;
mod rates;
mod sockets;
mod verdict;

use core::ffi::c_void;

use aya_ebpf::{
    EbpfContext,
    bindings::{TC_ACT_SHOT, TC_ACT_UNSPEC, bpf_hdr_start_off, xdp_action},
    helpers::bpf_skb_load_bytes_relative,
    macros::{classifier, xdp},
    maps::ProgramArray,
    programs::{TcContext, XdpContext},
};
use fwxdp_common::{CONFIG_MONITOR, Config, Reason};

use crate::{
    maps::{FWXDP_CONFIG, FWXDP_TC_INNER, FWXDP_TUNNEL, FWXDP_XDP_INNER},
    parse::Packet,
    verdict::Verdict,
};

/// How much of a socket buffer the TC program makes linear before parsing: enough for two
/// VLAN tags, IPv6 with a full extension-header walk of typical sizes, and TCP.
const TC_PULL_LEN: u32 = 512;

enum Action {
    Pass,
    Drop,
    /// A map lookup that cannot fail did: a bug, not a policy decision.
    Abort,
}

/// The ingress verdict on the frame between `data` and `data_end` of `ctx`. A tunnel packet
/// that passes as a protocol is handed to `inner`'s program, which judges what it carries
/// as if it had arrived by itself (Linux delivers it to the host through the tunnel
/// device); that program is verified on its own, so the verifier does not walk the verdict
/// once more for every outer header chain.
#[inline(always)]
fn filter<C: EbpfContext>(
    ctx: &C,
    inner: &ProgramArray,
    data: usize,
    data_end: usize,
    outer_tags: usize,
    bytes: u64,
) -> Action {
    let Some(config) = FWXDP_CONFIG.get(0) else {
        return Action::Abort;
    };
    let mut packet = parse::frame(data, data_end, outer_tags, config.ip_frames());
    let verdict = if let Some(verdict) = verdict::source(&packet, config) {
        if verdict.reason == Reason::Blocked {
            // The log shows the ports of a blocked source's packet too. A loopback one
            // shows the protocol its IP header names: reading on would cost the verifier
            // another walk of every transport.
            packet.upper();
        }
        verdict
    } else {
        packet.upper();
        let verdict = verdict::transport(ctx.as_ptr(), &packet, config, false);
        if packet.is_tunnel() && !verdict.reason.is_drop() {
            return tunnel(ctx, inner, config, &packet, bytes);
        }
        verdict
    };
    finish(config, &packet, &verdict, bytes)
}

/// Hands the tunnel packet `packet`, which passed, to `inner`'s program, which judges what
/// it carries; if that cannot be done, drops it.
#[inline(always)]
fn tunnel<C: EbpfContext>(
    ctx: &C,
    inner: &ProgramArray,
    config: &Config,
    packet: &Packet,
    bytes: u64,
) -> Action {
    if let Some(slot) = FWXDP_TUNNEL.get_ptr_mut(0) {
        // SAFETY: the pointer comes from a successful lookup of this CPU's entry, and
        // nothing else runs on this CPU until the tail call reads it.
        unsafe {
            *slot = packet.tunnel();
            // On success this does not return.
            inner.tail_call(ctx, 0);
        }
    }
    // Neither it nor what it carries can be judged: dropped. Not logged: the verifier
    // (Linux 6.12) no longer trusts packet pointers once a tail call returned.
    counters::count(&Verdict::protocol(packet.ip_proto), bytes);
    dropped(config)
}

/// Judges what the tunnel packet in `ctx`, which [`filter`] passed, carries.
#[inline(always)]
fn filter_inner(ctx: *mut c_void, data: usize, data_end: usize, bytes: u64) -> Action {
    let (Some(config), Some(tunnel)) = (FWXDP_CONFIG.get(0), FWXDP_TUNNEL.get(0)) else {
        return Action::Abort;
    };
    let mut packet = parse::carried(data, data_end, tunnel);
    // The steps of `filter`, written out again: one function taking the parse step as a
    // closure let LLVM lay the code out so that the verifier lost an address read's bound.
    let verdict = if let Some(verdict) = verdict::source(&packet, config) {
        if verdict.reason == Reason::Blocked {
            packet.upper_carried(data);
        }
        verdict
    } else {
        packet.upper_carried(data);
        verdict::transport(ctx, &packet, config, true)
    };
    finish(config, &packet, &verdict, bytes)
}

/// Counts `verdict` on `packet`, logs it if a drop, and says what to do with the frame.
#[inline(always)]
fn finish(config: &Config, packet: &Packet, verdict: &Verdict, bytes: u64) -> Action {
    counters::count(verdict, bytes);
    if !verdict.reason.is_drop() {
        return Action::Pass;
    }
    // In monitor mode too: the log shows what would be dropped.
    log::dropped(config, packet, verdict.reason, bytes);
    dropped(config)
}

/// What becomes of a frame dropped: dropped, or passed in monitor mode.
#[inline(always)]
const fn dropped(config: &Config) -> Action {
    if config.flags & CONFIG_MONITOR == 0 {
        Action::Drop
    } else {
        Action::Pass
    }
}

const fn xdp_action(action: Action) -> u32 {
    match action {
        Action::Pass => xdp_action::XDP_PASS,
        Action::Drop => xdp_action::XDP_DROP,
        Action::Abort => xdp_action::XDP_ABORTED,
    }
}

const fn tc_action(action: Action) -> i32 {
    match action {
        // UNSPEC lets later TC programs run; with none, the packet passes.
        Action::Pass => TC_ACT_UNSPEC,
        Action::Drop | Action::Abort => TC_ACT_SHOT,
    }
}

/// The ingress verdict, attached as XDP (native or generic).
#[xdp]
fn fwxdp_xdp(ctx: XdpContext) -> u32 {
    let (data, data_end) = (ctx.data(), ctx.data_end());
    // Computed here, so the verifier need not keep `data` apart per VLAN tagging.
    let bytes = core::hint::black_box((data_end - data) as u64);
    xdp_action(filter(&ctx, &FWXDP_XDP_INNER, data, data_end, 0, bytes))
}

/// What [`fwxdp_xdp`] hands a tunnel packet to.
#[xdp]
fn fwxdp_xdp_inner(ctx: XdpContext) -> u32 {
    let (data, data_end) = (ctx.data(), ctx.data_end());
    xdp_action(filter_inner(
        ctx.as_ptr(),
        data,
        data_end,
        (data_end - data) as u64,
    ))
}

/// Makes the start of the socket buffer linear so direct packet access sees the headers.
#[inline(always)]
fn pull_headers(ctx: &TcContext) {
    let want = ctx.len().min(TC_PULL_LEN);
    if ctx.data_end() - ctx.data() < want as usize {
        // On failure the parser sees a short frame and judges it as such.
        let _: Result<(), _> = ctx.pull_data(want);
    }
}

/// The kernel takes the outer VLAN tag off before TC runs (XDP sees it in the frame): it
/// counts against the tags the parser walks, so both judge a frame alike.
#[inline(always)]
fn outer_tags(ctx: &TcContext) -> usize {
    // SAFETY: `skb` is the program's context; `vlan_present` is readable by classifiers.
    usize::from(unsafe { (*ctx.skb.skb).vlan_present } != 0)
}

/// The frame's length as on the wire, an outer tag included, as XDP counts it.
#[inline(always)]
fn tc_bytes(ctx: &TcContext) -> u64 {
    u64::from(ctx.len()) + 4 * outer_tags(ctx) as u64
}

/// The same ingress verdict, attached as a clsact/TCX ingress classifier.
#[classifier]
fn fwxdp_tc_ingress(ctx: TcContext) -> i32 {
    pull_headers(&ctx);
    tc_action(filter(
        &ctx,
        &FWXDP_TC_INNER,
        ctx.data(),
        ctx.data_end(),
        outer_tags(&ctx),
        tc_bytes(&ctx),
    ))
}

/// What [`fwxdp_tc_ingress`] hands a tunnel packet to; the headers are linear already.
#[classifier]
fn fwxdp_tc_inner(ctx: TcContext) -> i32 {
    tc_action(filter_inner(
        ctx.as_ptr(),
        ctx.data(),
        ctx.data_end(),
        tc_bytes(&ctx),
    ))
}

/// Whether the outbound packet is TCP by its IP header, read where it lies without making
/// anything linear: the tracker leaves TCP alone (its sockets say what is a reply), and
/// pulling every segment of a bulk upload into the linear part would cost each one. IPv6
/// behind extension headers, and frames whose tags the kernel did not take off, are not
/// recognised here and go through the tracker, which leaves their TCP alone too.
#[inline(always)]
fn is_tcp(ctx: &TcContext) -> bool {
    const IPPROTO_TCP: u8 = 6;
    // The EtherType in network order, in the low 16 bits of a 32-bit field.
    #[expect(clippy::cast_possible_truncation, reason = "the field holds 16 bits")]
    // SAFETY: `skb` is the program's context; `protocol` is readable by classifiers.
    let protocol = u16::from_be(unsafe { (*ctx.skb.skb).protocol } as u16);
    let at = match protocol {
        0x0800 => 9,
        0x86dd => 6,
        _ => return false,
    };
    let mut byte = 0u8;
    // SAFETY: the helper writes at most one byte into `byte`, which outlives the call.
    let read = unsafe {
        bpf_skb_load_bytes_relative(
            ctx.skb.skb.cast(),
            at,
            (&raw mut byte).cast(),
            1,
            bpf_hdr_start_off::BPF_HDR_START_NET,
        )
    };
    read == 0 && byte == IPPROTO_TCP
}

/// Records outbound flows so that their replies pass the ingress verdict. Never drops.
#[classifier]
fn fwxdp_tc_egress(ctx: TcContext) -> i32 {
    if is_tcp(&ctx) {
        return TC_ACT_UNSPEC;
    }
    pull_headers(&ctx);
    flows::record_outbound(|| {
        // SAFETY: `skb` is the program's context, whose `data` and `data_end` classifiers
        // may read; volatile, so that each call reads them afresh.
        unsafe {
            let skb = ctx.skb.skb;
            (
                core::ptr::read_volatile(&raw const (*skb).data) as usize,
                core::ptr::read_volatile(&raw const (*skb).data_end) as usize,
            )
        }
    });
    TC_ACT_UNSPEC
}

#[cfg(not(test))]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    // An endless loop, not `unreachable_unchecked`: a reachable panic then fails
    // verification instead of being optimised into undefined behaviour.
    loop {}
}

#[unsafe(link_section = "license")]
#[unsafe(no_mangle)]
static LICENSE: [u8; 13] = *b"Dual MIT/GPL\0";
