//! Types, map names and constants shared by the fwxdp BPF programs and userspace.
//!
//! Everything here is plain `#[repr(C)]` data with fixed-width fields and explicit padding, so
//! the kernel and userspace agree on the layout byte for byte.
#![no_std]
#![expect(
    clippy::pub_underscore_fields,
    reason = "padding is explicit and must be writable by both sides to zero it"
)]

use bytemuck::{Pod, Zeroable};

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
    /// Per-CPU hash of [`crate::PortKey`] → [`crate::PortCounter`]: drops per (proto, port).
    pub const PORT_DROPS: &str = "FWXDP_PORT_DROPS";
    /// Per-CPU [`crate::Counter`] indexed by [`crate::Proto`]: port drops that found
    /// [`PORT_DROPS`] full.
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
}

/// Program names in the BPF object.
pub mod program_name {
    /// The ingress verdict for XDP attachment.
    pub const XDP_INGRESS: &str = "fwxdp_xdp";
    /// The same verdict for TC (clsact ingress) attachment.
    pub const TC_INGRESS: &str = "fwxdp_tc_ingress";
    /// Records outbound flows (UDP and the other protocols but TCP) so their replies pass.
    pub const TC_EGRESS: &str = "fwxdp_tc_egress";
}

/// The policy has two generations; userspace fills the inactive one and flips
/// [`Config::generation`], so a packet sees either the whole old policy or the whole new one.
pub const GENERATIONS: u32 = 2;
/// Entries in [`map_name::PORTS`]: one per (generation, port).
pub const PORTS_ENTRIES: u32 = GENERATIONS << 16;
/// Entries in [`map_name::PROTOCOLS`]: one per (generation, IP protocol number).
pub const PROTOCOLS_ENTRIES: u32 = GENERATIONS << 8;
/// Entries in [`map_name::PROTOCOL_DROPS`]: one per IP protocol number.
pub const PROTOCOL_NUMBERS: u32 = 256;
/// Capacity of [`map_name::CIDRS`].
pub const CIDRS_MAX_ENTRIES: u32 = 16_384;
/// Capacity of [`map_name::PORT_DROPS`]: bounds its memory whatever the number of ports
/// scanned. Drops to ports beyond it are summed in [`map_name::PORT_OVERFLOW`].
pub const PORT_DROPS_MAX_ENTRIES: u32 = 4_096;
/// Capacity of [`map_name::FLOWS`]; the least recently used flow is evicted first.
pub const FLOWS_MAX_ENTRIES: u32 = 65_536;
/// A flow this host started admits replies for this long after its last outbound packet.
pub const FLOW_TIMEOUT_NS: u64 = 120 * 1_000_000_000;
/// Capacity of [`map_name::LIMITS`]: the (proto, port) pairs with a limit, both generations.
pub const LIMITS_MAX_ENTRIES: u32 = GENERATIONS * 1_024;
/// Capacity of [`map_name::RATES`]: sources tracked across all limited ports; the least
/// recently used is forgotten first.
pub const RATES_MAX_ENTRIES: u32 = 32_768;
/// Capacity of [`map_name::BLOCKS`]. The trie allocates per entry, so the capacity costs
/// nothing until used.
pub const BLOCKS_MAX_ENTRIES: u32 = 131_072;
/// [`BlockKey::scope`] of a block on every interface.
pub const BLOCK_SCOPE_ALL: u32 = 0;
/// Bits of [`BlockKey`] before the address: scope, family and pad, always matched in full.
pub const BLOCK_KEY_FIXED_BITS: u32 = 64;

/// [`BlockKey::scope`] of the blocks of the interface called `name`: a hash of the name
/// (FNV-1a), never [`BLOCK_SCOPE_ALL`]. Blocks follow the name, so a re-created interface
/// keeps them; two names that collide share their blocks (more is blocked, never less).
#[must_use]
pub const fn block_scope(name: &[u8]) -> u32 {
    let mut hash: u32 = 0x811c_9dc5;
    let mut i = 0;
    while i < name.len() {
        hash ^= name[i] as u32;
        hash = hash.wrapping_mul(0x0100_0193);
        i += 1;
    }
    if hash == BLOCK_SCOPE_ALL { 1 } else { hash }
}

/// Size of [`map_name::LOG`]: about 4,600 events waiting for a reader.
pub const LOG_RING_BYTES: u32 = 256 * 1024;
/// Drop events logged per second per CPU unless configured otherwise ([`Config::log_rate`]).
pub const LOG_RATE_DEFAULT: u32 = 10;
/// The drop log's rate window.
pub const LOG_WINDOW_NS: u64 = 1_000_000_000;

/// Capacity of [`map_name::LIMIT_DROPS`].
pub const LIMIT_DROPS_MAX_ENTRIES: u32 = LIMITS_MAX_ENTRIES;
/// The largest connection count a limit may allow per window: the size of
/// [`RateState::stamps`].
pub const LIMIT_MAX_COUNT: u32 = 16;
/// The longest window a limit may have (one day), well inside the wrap of the 32-bit
/// millisecond clock [`RateState`] keeps.
pub const LIMIT_MAX_WINDOW_MS: u32 = 86_400_000;

/// [`map_name::PORTS`] flag: the port is open to every source for TCP.
pub const PORT_TCP_ALLOW: u16 = Proto::Tcp.allow_flag();
/// [`map_name::PORTS`] flag: the port is open to every source for UDP.
pub const PORT_UDP_ALLOW: u16 = Proto::Udp.allow_flag();
/// [`map_name::PORTS`] flag: some source CIDRs are allowed on this TCP port.
pub const PORT_TCP_CIDR: u16 = Proto::Tcp.cidr_flag();
/// [`map_name::PORTS`] flag: some source CIDRs are allowed on this UDP port.
pub const PORT_UDP_CIDR: u16 = Proto::Udp.cidr_flag();

/// [`map_name::PORTS`] flag: some protocol on this port has a per-source rate limit in
/// [`map_name::LIMITS`] (which says which).
pub const PORT_LIMIT: u16 = 1 << 15;

/// [`map_name::PROTOCOLS`] flag: the protocol is open to every source.
pub const PROTOCOL_ALLOW: u8 = 1 << 0;
/// [`map_name::PROTOCOLS`] flag: some source CIDRs are allowed for the protocol.
pub const PROTOCOL_CIDR: u8 = 1 << 1;

/// Index of `port` in generation `generation` of [`map_name::PORTS`].
#[must_use]
pub const fn port_index(generation: u8, port: u16) -> u32 {
    ((generation as u32 & 1) << 16) | port as u32
}

/// Index of IP protocol `protocol` in generation `generation` of [`map_name::PROTOCOLS`].
#[must_use]
pub const fn protocol_index(generation: u8, protocol: u8) -> u32 {
    ((generation as u32 & 1) << 8) | protocol as u32
}

/// The layout of the pinned maps; a replacement refuses pins of another layout.
pub const CONFIG_VERSION: u8 = 3;

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

/// Transport protocols that have ports, as an index into per-protocol tables.
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Proto {
    /// TCP (IP protocol 6).
    Tcp = 0,
    /// UDP (IP protocol 17).
    Udp = 1,
    /// UDP-Lite (IP protocol 136).
    UdpLite = 2,
    /// SCTP (IP protocol 132).
    Sctp = 3,
    /// DCCP (IP protocol 33).
    Dccp = 4,
}

/// Number of [`Proto`] values: the length of per-protocol tables.
pub const PROTO_COUNT: u32 = 5;

/// [`CidrKey::proto`] of an entry for an IP protocol without ports, whose number is then in
/// [`CidrKey::port_be`].
pub const CIDR_IP_PROTOCOL: u8 = 0xff;

/// IP protocol numbers the verdict itself looks for.
pub mod ip_protocol {
    pub const ICMP: u8 = 1;
    pub const IGMP: u8 = 2;
    pub const TCP: u8 = 6;
    pub const UDP: u8 = 17;
    pub const DCCP: u8 = 33;
    pub const ICMPV6: u8 = 58;
    pub const SCTP: u8 = 132;
    pub const UDPLITE: u8 = 136;
}

impl Proto {
    /// Every protocol, in index order.
    pub const ALL: [Self; PROTO_COUNT as usize] =
        [Self::Tcp, Self::Udp, Self::UdpLite, Self::Sctp, Self::Dccp];

    /// The protocol stored as `raw`, if it is one.
    #[must_use]
    pub const fn from_raw(raw: u8) -> Option<Self> {
        match raw {
            0 => Some(Self::Tcp),
            1 => Some(Self::Udp),
            2 => Some(Self::UdpLite),
            3 => Some(Self::Sctp),
            4 => Some(Self::Dccp),
            _ => None,
        }
    }

    /// The protocol whose IP protocol number is `number`, if it has ports.
    #[must_use]
    pub const fn from_ip_protocol(number: u8) -> Option<Self> {
        match number {
            ip_protocol::TCP => Some(Self::Tcp),
            ip_protocol::UDP => Some(Self::Udp),
            ip_protocol::UDPLITE => Some(Self::UdpLite),
            ip_protocol::SCTP => Some(Self::Sctp),
            ip_protocol::DCCP => Some(Self::Dccp),
            _ => None,
        }
    }

    /// The IP protocol number.
    #[must_use]
    pub const fn ip_protocol(self) -> u8 {
        match self {
            Self::Tcp => ip_protocol::TCP,
            Self::Udp => ip_protocol::UDP,
            Self::UdpLite => ip_protocol::UDPLITE,
            Self::Sctp => ip_protocol::SCTP,
            Self::Dccp => ip_protocol::DCCP,
        }
    }

    /// The protocol named `name` (as [`Proto::name`] writes it, in any case).
    #[must_use]
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|proto| proto.name().eq_ignore_ascii_case(name))
    }

    /// The lowercase name used in specs, JSON and metric labels.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::Tcp => "tcp",
            Self::Udp => "udp",
            Self::UdpLite => "udplite",
            Self::Sctp => "sctp",
            Self::Dccp => "dccp",
        }
    }

    /// The [`map_name::PORTS`] flag that opens a port to every source.
    #[must_use]
    pub const fn allow_flag(self) -> u16 {
        1 << self as u16
    }

    /// The [`map_name::PORTS`] flag that says source CIDRs are listed for a port.
    #[must_use]
    pub const fn cidr_flag(self) -> u16 {
        1 << (8 + self as u16)
    }
}

/// Why the verdict passed or dropped a packet: the index into [`map_name::REASONS`].
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Reason {
    /// Passed: a new connection to an allowed port.
    Allowed = 0,
    /// Passed: a new connection from a source CIDR allowed for the port.
    AllowedCidr = 1,
    /// Passed: not a new connection (TCP without a bare SYN, a UDP reply, DHCP client reply).
    Established = 2,
    /// Passed: not judged (non-IP, ICMP, `ICMPv6`, IGMP, non-first fragment).
    Other = 3,
    /// Dropped: a new connection to a port that is not allowed.
    Port = 4,
    /// Dropped: a loopback source or destination address on a non-loopback interface.
    Loopback = 5,
    /// Dropped: malformed so that the ports of a possible new connection are hidden.
    Malformed = 6,
    /// Dropped: a packet of an IP protocol without ports that is not allowed and is not a
    /// reply to this host (GRE, ESP, IPIP...).
    Protocol = 7,
    /// Dropped: a new connection to a rate-limited port from a source over its limit.
    Ratelimit = 8,
    /// Dropped: any packet from a blocked source.
    Blocked = 9,
}

/// Number of [`Reason`] values: the length of [`map_name::REASONS`].
pub const REASON_COUNT: u32 = 10;

impl Reason {
    /// Every reason, in index order.
    pub const ALL: [Self; REASON_COUNT as usize] = [
        Self::Allowed,
        Self::AllowedCidr,
        Self::Established,
        Self::Other,
        Self::Port,
        Self::Loopback,
        Self::Malformed,
        Self::Protocol,
        Self::Ratelimit,
        Self::Blocked,
    ];

    /// Whether the verdict for this reason is to drop (unless in monitor mode).
    #[must_use]
    pub const fn is_drop(self) -> bool {
        matches!(
            self,
            Self::Port
                | Self::Loopback
                | Self::Malformed
                | Self::Protocol
                | Self::Ratelimit
                | Self::Blocked
        )
    }

    /// The lowercase name used in JSON and metric labels.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::Allowed => "allowed",
            Self::AllowedCidr => "allowed_cidr",
            Self::Established => "established",
            Self::Other => "other",
            Self::Port => "port",
            Self::Loopback => "loopback",
            Self::Malformed => "malformed",
            Self::Protocol => "protocol",
            Self::Ratelimit => "ratelimit",
            Self::Blocked => "blocked",
        }
    }
}

/// A packet and byte count. Kept per CPU, summed by userspace.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Pod, Zeroable)]
pub struct Counter {
    pub packets: u64,
    pub bytes: u64,
}
const _: () = assert!(size_of::<Counter>() == 16);

/// Drops of one (proto, port), and when the port was first dropped.
///
/// `first_seen` is the monotonic clock (ns) at the first drop, written once in the slot of the
/// CPU that inserted the entry (the others stay 0), so the maximum over CPUs orders the ports
/// in time. Exporters itemise the earliest ports: a port once itemised stays itemised.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Pod, Zeroable)]
pub struct PortCounter {
    pub packets: u64,
    pub bytes: u64,
    pub first_seen: u64,
}
const _: () = assert!(size_of::<PortCounter>() == 24);

/// Key of [`map_name::PORT_DROPS`].
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Pod, Zeroable)]
pub struct PortKey {
    /// Destination port, host byte order.
    pub port: u16,
    /// A [`Proto`] value.
    pub proto: u8,
    pub _pad: u8,
}
const _: () = assert!(size_of::<PortKey>() == 4);

/// Key of [`map_name::LIMITS`].
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Pod, Zeroable)]
pub struct LimitKey {
    /// The policy generation the limit belongs to (0 or 1).
    pub generation: u8,
    /// A [`Proto`] value.
    pub proto: u8,
    /// Destination port, host byte order.
    pub port: u16,
}
const _: () = assert!(size_of::<LimitKey>() == 4);

/// A per-source rate limit: at most `count` new connections in any `window_ms`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Pod, Zeroable)]
pub struct Limit {
    /// 1 to [`LIMIT_MAX_COUNT`].
    pub count: u32,
    /// 1 to [`LIMIT_MAX_WINDOW_MS`].
    pub window_ms: u32,
}
const _: () = assert!(size_of::<Limit>() == 8);

/// Key of [`map_name::RATES`]: a source on a limited (proto, port). IPv6 sources are
/// grouped by /64 (the rest of the address is zero), as one host usually holds a /64.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Pod, Zeroable)]
pub struct RateKey {
    /// A [`Proto`] value.
    pub proto: u8,
    /// [`FAMILY_V4`] or [`FAMILY_V6`].
    pub family: u8,
    /// Destination port, host byte order.
    pub port: u16,
    /// Source address (or /64), network byte order; IPv4 in the first four bytes.
    pub addr: [u8; 16],
}
const _: () = assert!(size_of::<RateKey>() == 20);

/// The admitted new connections of one source: a ring of their times (milliseconds of the
/// monotonic clock, wrapping) of which the oldest is at `next` once `used` reaches the
/// limit's count.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Pod, Zeroable)]
pub struct RateState {
    pub stamps: [u32; LIMIT_MAX_COUNT as usize],
    /// The slot the next admission writes.
    pub next: u32,
    /// How many slots hold an admission.
    pub used: u32,
}
const _: () = assert!(size_of::<RateState>() == 72);

/// The data part of an LPM trie key in [`map_name::BLOCKS`]: the prefix length is
/// [`BLOCK_KEY_FIXED_BITS`] plus the blocked network's own.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Pod, Zeroable)]
pub struct BlockKey {
    /// [`BLOCK_SCOPE_ALL`], or the [`block_scope`] of one interface's name; network byte
    /// order, so that the key is matched byte by byte.
    pub scope_be: u32,
    /// [`FAMILY_V4`] or [`FAMILY_V6`].
    pub family: u8,
    pub _pad: [u8; 3],
    /// The source address, network byte order; IPv4 in the first four bytes.
    pub addr: [u8; 16],
}
const _: () = assert!(size_of::<BlockKey>() == 24);

/// How many entries [`map_name::BLOCKS`] holds, by kind. Userspace raises a count before it
/// adds an entry and lowers it after it removes one, so a count is never below the truth:
/// an interrupted change costs a lookup that finds nothing, never a block skipped.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Pod, Zeroable)]
pub struct BlockCounts {
    /// Entries with [`BLOCK_SCOPE_ALL`].
    pub all: u32,
    /// Entries scoped to an interface's name, of any name.
    pub scoped: u32,
}
const _: () = assert!(size_of::<BlockCounts>() == 8);

/// The value of a [`map_name::BLOCKS`] entry.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Pod, Zeroable)]
pub struct BlockEntry {
    /// When the block ends (monotonic clock, ns, as `bpf_ktime_get_ns`); 0 for never.
    pub expires_ns: u64,
    /// The entry's own prefix length in the trie: a lookup does not say which entry
    /// matched, and the program needs it to look past an expired one.
    pub prefix_len: u32,
    pub _pad: u32,
    /// The interface name the block is scoped to, NUL-padded; all zero for every
    /// interface. Userspace only: the scope hash cannot be read back into a name.
    pub iface: [u8; 16],
}
const _: () = assert!(size_of::<BlockEntry>() == 32);

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
    pub _pad: u32,
    /// Drops not logged because the window's events were spent.
    pub suppressed: u64,
    /// Drops not logged because the ring buffer was full (no reader kept up).
    pub lost: u64,
}
const _: () = assert!(size_of::<LogState>() == 32);

/// Entries of [`map_name::LINKS`]: one per link role (ingress, bridge, egress).
pub const LINK_ROLES: u32 = 3;

/// [`LinkRecord::kind`]: the role holds no netlink attachment.
pub const LINK_NONE: u8 = 0;
/// [`LinkRecord::kind`]: a `cls_bpf` filter (direct action) on the interface's clsact qdisc.
pub const LINK_TC_NETLINK: u8 = 1;

/// How one link role is attached when it is not a pinned BPF link: what userspace needs to
/// find the attachment again and remove exactly it.
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

/// Address family tag used in [`CidrKey`] and [`FlowKey`].
pub const FAMILY_V4: u8 = 4;
/// Address family tag used in [`CidrKey`] and [`FlowKey`].
pub const FAMILY_V6: u8 = 6;

/// Bits of [`CidrKey`] before the address: generation, proto, family, pad and port.
pub const CIDR_KEY_FIXED_BITS: u32 = 48;

/// The data part of an LPM trie key in [`map_name::CIDRS`].
///
/// The fields before `addr` are always matched in full, so the trie's prefix length is
/// [`CIDR_KEY_FIXED_BITS`] plus the CIDR's own prefix length. An IPv4 address fills the first
/// four bytes of `addr`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Pod, Zeroable)]
pub struct CidrKey {
    /// The policy generation the entry belongs to (0 or 1).
    pub generation: u8,
    /// A [`Proto`] value, or [`CIDR_IP_PROTOCOL`].
    pub proto: u8,
    /// [`FAMILY_V4`] or [`FAMILY_V6`].
    pub family: u8,
    pub _pad: u8,
    /// Destination port, or the IP protocol number under [`CIDR_IP_PROTOCOL`]; network byte
    /// order, so that the key is matched byte by byte.
    pub port_be: u16,
    /// Source address, network byte order.
    pub addr: [u8; 16],
}
const _: () = assert!(size_of::<CidrKey>() == 22);

/// Key of [`map_name::FLOWS`], from the host's point of view. Protocols without ports have
/// both ports 0.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Pod, Zeroable)]
pub struct FlowKey {
    /// The host's address, network byte order (IPv4 in the first four bytes).
    pub local_addr: [u8; 16],
    /// The peer's address, network byte order (IPv4 in the first four bytes).
    pub remote_addr: [u8; 16],
    /// The host's port, network byte order.
    pub local_port_be: u16,
    /// The peer's port, network byte order.
    pub remote_port_be: u16,
    /// [`FAMILY_V4`] or [`FAMILY_V6`].
    pub family: u8,
    /// The IP protocol number.
    pub protocol: u8,
    pub _pad: [u8; 2],
}
const _: () = assert!(size_of::<FlowKey>() == 40);

#[cfg(feature = "user")]
mod user {
    // SAFETY: each type is #[repr(C)], made only of integers with explicit padding, and is
    // bytemuck::Pod, so every bit pattern is valid.
    unsafe impl aya::Pod for super::Config {}
    // SAFETY: as above.
    unsafe impl aya::Pod for super::Counter {}
    // SAFETY: as above.
    unsafe impl aya::Pod for super::PortKey {}
    // SAFETY: as above.
    unsafe impl aya::Pod for super::PortCounter {}
    // SAFETY: as above.
    unsafe impl aya::Pod for super::CidrKey {}
    // SAFETY: as above.
    unsafe impl aya::Pod for super::FlowKey {}
    // SAFETY: as above.
    unsafe impl aya::Pod for super::LinkRecord {}
    // SAFETY: as above.
    unsafe impl aya::Pod for super::LimitKey {}
    // SAFETY: as above.
    unsafe impl aya::Pod for super::Limit {}
    // SAFETY: as above.
    unsafe impl aya::Pod for super::RateKey {}
    // SAFETY: as above.
    unsafe impl aya::Pod for super::RateState {}
    // SAFETY: as above.
    unsafe impl aya::Pod for super::BlockKey {}
    // SAFETY: as above.
    unsafe impl aya::Pod for super::BlockEntry {}
    // SAFETY: as above.
    unsafe impl aya::Pod for super::BlockCounts {}
    // SAFETY: as above.
    unsafe impl aya::Pod for super::DropEvent {}
    // SAFETY: as above.
    unsafe impl aya::Pod for super::LogState {}
}
