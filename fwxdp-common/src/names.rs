//! Map and program names, as the BPF object declares them.

/// Map names, as the BPF object declares them (where userspace pins each one is its own
/// business).
pub mod map_name {
    /// [`crate::Config`] at index 0: the active policy generation and the monitor flag.
    pub const CONFIG: &str = "FWXDP_CONFIG";
    /// `u16` port flags (`PORT_*`, per [`crate::Proto`]) indexed by [`crate::port_index`].
    pub const PORTS: &str = "FWXDP_PORTS";
    /// `u8` flags (`PROTOCOL_*`) of the IP protocols without ports, indexed by
    /// [`crate::protocol_index`].
    pub const PROTOCOLS: &str = "FWXDP_PROTOCOLS";
    /// LPM trie of [`crate::CidrKey`] → `u8` (1): source CIDRs allowed per port or protocol.
    pub const CIDRS: &str = "FWXDP_CIDRS";
    /// Per-CPU [`crate::Counter`] indexed by [`crate::Reason`].
    pub const REASONS: &str = "FWXDP_REASONS";
    /// Per-CPU array of [`crate::PortSlot`], [`crate::PORT_DROPS_MAX_ENTRIES`] slots: drops
    /// per (proto, port), each CPU's in slots of its own, found by linear probing from
    /// [`crate::port_slot_home`].
    pub const PORT_DROPS: &str = "FWXDP_PORT_DROPS";
    /// Per-CPU [`crate::Counter`] indexed by [`crate::Proto`]: port drops that found
    /// no slot free in [`PORT_DROPS`].
    pub const PORT_OVERFLOW: &str = "FWXDP_PORT_OVERFLOW";
    /// Per-CPU [`crate::Counter`] indexed by IP protocol number: drops of reason `protocol`.
    pub const PROTOCOL_DROPS: &str = "FWXDP_PROTOCOL_DROPS";
    /// LRU hash of [`crate::FlowKey`] → last-seen time (ns): flows this host started, of
    /// every protocol but TCP, ICMP and `ICMPv6`.
    pub const FLOWS: &str = "FWXDP_FLOWS";
    /// [`crate::LinkRecord`] per link role: attachments that have no pinned BPF link (TC
    /// filters made over netlink). Written and read by userspace only.
    pub const LINKS: &str = "FWXDP_LINKS";
    /// Hash of [`crate::LimitKey`] → [`crate::Limit`]: the per-source rate limits of the
    /// ports flagged [`crate::PORT_LIMIT`], per policy generation.
    pub const LIMITS: &str = "FWXDP_LIMITS";
    /// LRU hash of [`crate::RateKey`] → [`crate::RateState`]: the recent new connections of
    /// each source on each limited port.
    pub const RATES: &str = "FWXDP_RATES";
    /// Per-CPU hash of [`crate::PortKey`] (reason byte 0) → [`crate::Counter`]: drops of
    /// reason `ratelimit` per (proto, port).
    pub const LIMIT_DROPS: &str = "FWXDP_LIMIT_DROPS";
    /// LPM trie of [`crate::BlockKey`] → [`crate::BlockEntry`]: the blocked sources. One
    /// per pin root, shared by every attached interface.
    pub const BLOCKS: &str = "FWXDP_BLOCKS";
    /// [`crate::BlockCounts`] at index 0: how many entries of each kind [`BLOCKS`] holds, so
    /// that the program skips the trie when it holds none. Shared like it.
    pub const BLOCK_COUNTS: &str = "FWXDP_BLOCK_COUNTS";
    /// Ring buffer of [`crate::DropEvent`]: the drop log, rate-bounded per CPU.
    pub const LOG: &str = "FWXDP_LOG";
    /// Per-CPU [`crate::LogState`] at index 0: the drop log's window and what it left out.
    pub const LOG_STATE: &str = "FWXDP_LOG_STATE";
    /// The XDP program that judges what a tunnel packet carries, at index 0: the XDP
    /// ingress program tail-calls it. Its entry is dropped with the last reference to the
    /// map from userspace, so every interface pins it.
    pub const XDP_INNER: &str = "FWXDP_XDP_INNER";
    /// The same for the TC ingress program.
    pub const TC_INNER: &str = "FWXDP_TC_INNER";
    /// Per CPU: where the tunnel packet being handed to an inner program has its payload.
    pub const TUNNEL: &str = "FWXDP_TUNNEL";
}

/// Program names in the BPF object.
pub mod program_name {
    /// The ingress verdict for XDP attachment.
    pub const XDP_INGRESS: &str = "fwxdp_xdp";
    /// The same verdict for TC (clsact ingress) attachment.
    pub const TC_INGRESS: &str = "fwxdp_tc_ingress";
    /// Records outbound flows (UDP and the other protocols but TCP) so their replies pass.
    pub const TC_EGRESS: &str = "fwxdp_tc_egress";
    /// Judges what a tunnel packet the XDP ingress program admitted carries.
    pub const XDP_INNER: &str = "fwxdp_xdp_inner";
    /// The same for the TC ingress program.
    pub const TC_INNER: &str = "fwxdp_tc_inner";
}
