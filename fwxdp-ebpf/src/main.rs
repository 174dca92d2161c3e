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
    EbpfContext as _,
    bindings::{TC_ACT_SHOT, TC_ACT_UNSPEC, xdp_action},
    macros::{classifier, xdp},
    programs::{TcContext, XdpContext},
};
use fwxdp_common::{CONFIG_MONITOR, Reason};

use crate::maps::FWXDP_CONFIG;

/// How much of a socket buffer the TC program makes linear before parsing: enough for two
/// VLAN tags, IPv6 with a full extension-header walk of typical sizes, and TCP.
const TC_PULL_LEN: u32 = 512;

enum Action {
    Pass,
    Drop,
    /// A map lookup that cannot fail did: a bug, not a policy decision.
    Abort,
}

#[inline(always)]
fn filter(ctx: *mut c_void, data: usize, data_end: usize, outer_tags: usize, bytes: u64) -> Action {
    let Some(config) = FWXDP_CONFIG.get(0) else {
        return Action::Abort;
    };
    let mut packet = parse::frame(data, data_end, outer_tags, config.ip_frames());
    let verdict = verdict::source(&packet, config).unwrap_or_else(|| {
        packet.upper();
        verdict::transport(ctx, &packet, config)
    });
    counters::count(&verdict, bytes);
    if !verdict.reason.is_drop() {
        return Action::Pass;
    }
    // The log shows the ports of a blocked source's packet too.
    if verdict.reason == Reason::Blocked {
        packet.upper();
    }
    // In monitor mode too: the log shows what would be dropped.
    log::dropped(config, &packet, verdict.reason, bytes);
    if config.flags & CONFIG_MONITOR == 0 {
        Action::Drop
    } else {
        Action::Pass
    }
}

/// The ingress verdict, attached as XDP (native or generic).
#[xdp]
fn fwxdp_xdp(ctx: XdpContext) -> u32 {
    let (data, data_end) = (ctx.data(), ctx.data_end());
    // Computed here, so the verifier need not keep `data` apart per VLAN tagging.
    let bytes = core::hint::black_box((data_end - data) as u64);
    match filter(ctx.as_ptr(), data, data_end, 0, bytes) {
        Action::Pass => xdp_action::XDP_PASS,
        Action::Drop => xdp_action::XDP_DROP,
        Action::Abort => xdp_action::XDP_ABORTED,
    }
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

/// The same ingress verdict, attached as a clsact/TCX ingress classifier.
#[classifier]
fn fwxdp_tc_ingress(ctx: TcContext) -> i32 {
    pull_headers(&ctx);
    // The kernel takes the outer VLAN tag off before TC runs (XDP sees it in the frame): it
    // counts against the tags the parser walks, so both judge a frame alike.
    // SAFETY: `skb` is the program's context; `vlan_present` is readable by classifiers.
    let outer_tags = usize::from(unsafe { (*ctx.skb.skb).vlan_present } != 0);
    // Counted as on the wire, tag included, as XDP counts it.
    let bytes = u64::from(ctx.len()) + 4 * outer_tags as u64;
    match filter(ctx.as_ptr(), ctx.data(), ctx.data_end(), outer_tags, bytes) {
        // UNSPEC lets later TC programs run; with none, the packet passes.
        Action::Pass => TC_ACT_UNSPEC,
        Action::Drop | Action::Abort => TC_ACT_SHOT,
    }
}

/// Records outbound flows so that their replies pass the ingress verdict. Never drops.
#[classifier]
fn fwxdp_tc_egress(ctx: TcContext) -> i32 {
    pull_headers(&ctx);
    flows::record_outbound(ctx.data(), ctx.data_end());
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
