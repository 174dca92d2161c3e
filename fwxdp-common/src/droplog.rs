//! The drop log: the event each logged drop sends and the per-CPU rate state.

#[cfg(doc)]
use crate::{Config, FAMILY_V4, FAMILY_V6, Reason, map_name};
use bytemuck::{Pod, Zeroable};

/// Size of [`map_name::LOG`]: about 4,600 events waiting for a reader.
pub const LOG_RING_BYTES: u32 = 256 * 1024;
/// Drop events logged per second per CPU unless configured otherwise ([`Config::log_rate`]).
pub const LOG_RATE_DEFAULT: u32 = 10;
/// The drop log's rate window.
pub const LOG_WINDOW_NS: u64 = 1_000_000_000;

/// [`DropEvent::tcp_flags`]: the TCP segment had SYN set.
pub const TCP_FLAG_SYN: u8 = 0x02;
/// [`DropEvent::tcp_flags`]: the TCP segment had ACK set.
pub const TCP_FLAG_ACK: u8 = 0x10;

/// One dropped packet, as the drop log carries it.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Pod, Zeroable)]
pub struct DropEvent {
    /// When (monotonic clock, ns).
    pub time_ns: u64,
    /// The frame's length in bytes.
    pub len: u32,
    /// A [`Reason`] value.
    pub reason: u8,
    /// [`FAMILY_V4`], [`FAMILY_V6`], or 0 for a frame whose IP header could not be read.
    pub family: u8,
    /// The IP protocol number (after IPv6 extension headers); 0 without an IP header.
    pub protocol: u8,
    /// `TCP_FLAG_*` of a TCP segment.
    pub tcp_flags: u8,
    /// Network byte order; IPv4 in the first four bytes.
    pub src: [u8; 16],
    pub dst: [u8; 16],
    /// Host byte order; 0 for protocols without ports.
    pub src_port: u16,
    pub dst_port: u16,
    pub _pad: u32,
}
const _: () = assert!(size_of::<DropEvent>() == 56);

/// The drop log's per-CPU state.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Pod, Zeroable)]
pub struct LogState {
    /// When the current rate window began (monotonic clock, ns).
    pub window_start_ns: u64,
    /// Events logged in the current window.
    pub sent: u32,
    /// The low 32 bits of the kernel's jiffies when the program last read the clock: it
    /// reads it at most once a tick.
    pub tick: u32,
    /// Drops not logged because the window's events were spent.
    pub suppressed: u64,
    /// Drops not logged because the ring buffer was full (no reader kept up).
    pub lost: u64,
}
const _: () = assert!(size_of::<LogState>() == 32);
