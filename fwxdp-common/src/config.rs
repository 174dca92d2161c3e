//! The per-interface configuration map value.

#[cfg(doc)]
use crate::{block_scope, map_name};
use bytemuck::{Pod, Zeroable};

/// The layout of the pinned maps. An attach that finds pins of another layout builds a fresh
/// instance beside them and moves the interface's links over to it (an upgrade). Built with
/// `FWXDP_TEST_NEXT_LAYOUT` set, fwxdp claims the next layout, the same programs on maps of
/// its own, so that the test suite has two layouts to upgrade between.
pub const CONFIG_VERSION: u8 = match option_env!("FWXDP_TEST_NEXT_LAYOUT") {
    Some(_) => 6,
    None => 5,
};

/// How many bytes at the start of [`Config`] every layout shares: generation, flags, mode,
/// version, ifindex and `attached_at`, at these offsets, in every layout there will be. An
/// fwxdp reads them from pins of another layout to upgrade them.
pub const CONFIG_STABLE_PREFIX: usize = 16;

/// [`Config::flags`]: count verdicts but pass every packet.
pub const CONFIG_MONITOR: u8 = 1 << 0;
/// [`Config::flags`]: the device has no link-layer header (an IP tunnel, `tun`, WireGuard):
/// its frames start at the IP header.
pub const CONFIG_IP_FRAMES: u8 = 1 << 1;

/// The live configuration of one attached interface, at index 0 of [`map_name::CONFIG`].
///
/// Written by userspace in one map update, which is what makes a policy switch atomic.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Pod, Zeroable)]
pub struct Config {
    /// Which generation of [`map_name::PORTS`] and [`map_name::CIDRS`] is in force (0 or 1).
    pub generation: u8,
    /// `CONFIG_*` flags.
    pub flags: u8,
    /// The attach mode in force, as userspace numbers its modes; read by userspace only.
    pub mode: u8,
    /// [`CONFIG_VERSION`] of the fwxdp that attached: the layout of the pinned maps.
    pub version: u8,
    /// The interface the programs were attached to; userspace uses it to spot pins left by an
    /// interface that has since been deleted.
    pub ifindex: u32,
    /// When the interface was first attached, seconds since the Unix epoch; userspace only.
    pub attached_at: u64,
    /// Ports open to every source for TCP in the policy in force; userspace only.
    pub open_tcp: u16,
    /// Ports open to every source for UDP in the policy in force; userspace only.
    pub open_udp: u16,
    /// [`block_scope`] of the interface's name: its own entries in [`map_name::BLOCKS`].
    pub block_scope: u32,
    /// Drop events logged per second on each CPU; 0 logs none.
    pub log_rate: u32,
    pub _pad: u32,
}
const _: () = assert!(size_of::<Config>() == 32);
const _: () = assert!(
    core::mem::offset_of!(Config, mode) == 2
        && core::mem::offset_of!(Config, version) == 3
        && core::mem::offset_of!(Config, ifindex) == 4
        && core::mem::offset_of!(Config, attached_at) == 8
        && core::mem::offset_of!(Config, open_tcp) == CONFIG_STABLE_PREFIX
);

impl Config {
    /// Whether [`CONFIG_MONITOR`] is set: verdicts are counted, every packet passes.
    #[must_use]
    pub const fn monitor(&self) -> bool {
        self.flags & CONFIG_MONITOR != 0
    }

    /// Whether [`CONFIG_IP_FRAMES`] is set: frames start at the IP header.
    #[must_use]
    pub const fn ip_frames(&self) -> bool {
        self.flags & CONFIG_IP_FRAMES != 0
    }
}
