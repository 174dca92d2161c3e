//! Records of netlink attachments, so userspace can find and remove exactly them.

#[cfg(doc)]
use crate::map_name;
use bytemuck::{Pod, Zeroable};

/// Entries of [`map_name::LINKS`]: one per link role (ingress, bridge, egress).
pub const LINK_ROLES: u32 = 3;

/// [`LinkRecord::kind`]: the role holds no netlink attachment.
pub const LINK_NONE: u8 = 0;
/// [`LinkRecord::kind`]: a `cls_bpf` filter (direct action) on the interface's clsact qdisc.
pub const LINK_TC_NETLINK: u8 = 1;

/// How one link role is attached when it is not a pinned BPF link: what userspace needs to
/// find the attachment again and remove exactly it. The same in every pin layout
/// ([`crate::CONFIG_VERSION`]): an upgrade reads the records of the layout it replaces.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Pod, Zeroable)]
pub struct LinkRecord {
    /// `LINK_*`.
    pub kind: u8,
    /// 1 for clsact ingress, 2 for clsact egress.
    pub direction: u8,
    /// The filter's priority, as the kernel assigned it.
    pub priority: u16,
    /// The filter's handle, as the kernel assigned it.
    pub handle: u32,
    /// The interface the filter was added to.
    pub ifindex: u32,
    pub _pad: [u8; 4],
}
const _: () = assert!(size_of::<LinkRecord>() == 16);
