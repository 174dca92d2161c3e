//! The maps of one attached interface. Userspace pins them under `<pin root>/<iface>/`.

use aya_ebpf::{
    macros::map,
    maps::{
        Array, HashMap, LpmTrie, LruHashMap, PerCpuArray, PerCpuHashMap, ProgramArray, RingBuf,
    },
};
use fwxdp_common::{
    BLOCKS_MAX_ENTRIES, BlockCounts, BlockEntry, BlockKey, CIDRS_MAX_ENTRIES, CidrKey, Config,
    Counter, FLOWS_MAX_ENTRIES, FlowKey, LIMIT_DROPS_MAX_ENTRIES, LIMITS_MAX_ENTRIES, LINK_ROLES,
    LOG_RING_BYTES, Limit, LimitKey, LinkRecord, LogState, PORT_DROPS_MAX_ENTRIES, PORTS_ENTRIES,
    PROTO_COUNT, PROTOCOL_NUMBERS, PROTOCOLS_ENTRIES, PortKey, PortSlot, RATES_MAX_ENTRIES,
    REASON_COUNT, RateKey, RateState,
};

use crate::parse::Tunnel;

#[map]
pub(crate) static FWXDP_CONFIG: Array<Config> = Array::with_max_entries(1, 0);

#[map]
pub(crate) static FWXDP_PORTS: Array<u16> = Array::with_max_entries(PORTS_ENTRIES, 0);

#[map]
pub(crate) static FWXDP_PROTOCOLS: Array<u8> = Array::with_max_entries(PROTOCOLS_ENTRIES, 0);

#[map]
pub(crate) static FWXDP_CIDRS: LpmTrie<CidrKey, u8> =
    LpmTrie::with_max_entries(CIDRS_MAX_ENTRIES, 0);

#[map]
pub(crate) static FWXDP_REASONS: PerCpuArray<Counter> =
    PerCpuArray::with_max_entries(REASON_COUNT, 0);

#[map]
pub(crate) static FWXDP_PORT_DROPS: PerCpuArray<PortSlot> =
    PerCpuArray::with_max_entries(PORT_DROPS_MAX_ENTRIES, 0);

#[map]
pub(crate) static FWXDP_PORT_OVERFLOW: PerCpuArray<Counter> =
    PerCpuArray::with_max_entries(PROTO_COUNT, 0);

#[map]
pub(crate) static FWXDP_PROTOCOL_DROPS: PerCpuArray<Counter> =
    PerCpuArray::with_max_entries(PROTOCOL_NUMBERS, 0);

#[map]
pub(crate) static FWXDP_FLOWS: LruHashMap<FlowKey, u64> =
    LruHashMap::with_max_entries(FLOWS_MAX_ENTRIES, 0);

#[map]
pub(crate) static FWXDP_LIMITS: HashMap<LimitKey, Limit> =
    HashMap::with_max_entries(LIMITS_MAX_ENTRIES, 0);

#[map]
pub(crate) static FWXDP_RATES: LruHashMap<RateKey, RateState> =
    LruHashMap::with_max_entries(RATES_MAX_ENTRIES, 0);

#[map]
pub(crate) static FWXDP_LIMIT_DROPS: PerCpuHashMap<PortKey, Counter> =
    PerCpuHashMap::with_max_entries(LIMIT_DROPS_MAX_ENTRIES, 0);

/// Shared by every interface of a pin root: userspace loads each instance with this map
/// taken from its pin.
#[map]
pub(crate) static FWXDP_BLOCKS: LpmTrie<BlockKey, BlockEntry> =
    LpmTrie::with_max_entries(BLOCKS_MAX_ENTRIES, 0);

/// Shared like [`FWXDP_BLOCKS`].
#[map]
pub(crate) static FWXDP_BLOCK_COUNTS: Array<BlockCounts> = Array::with_max_entries(1, 0);

#[map]
pub(crate) static FWXDP_LOG: RingBuf = RingBuf::with_byte_size(LOG_RING_BYTES, 0);

#[map]
pub(crate) static FWXDP_LOG_STATE: PerCpuArray<LogState> = PerCpuArray::with_max_entries(1, 0);

/// The program the XDP ingress program hands a tunnel packet to, at index 0; filled by
/// userspace.
#[map]
pub(crate) static FWXDP_XDP_INNER: ProgramArray = ProgramArray::with_max_entries(1, 0);

/// The same for TC.
#[map]
pub(crate) static FWXDP_TC_INNER: ProgramArray = ProgramArray::with_max_entries(1, 0);

/// Where the tunnel packet handed to an inner program has its payload: written just before
/// the tail call on the same CPU.
#[map]
pub(crate) static FWXDP_TUNNEL: PerCpuArray<Tunnel> = PerCpuArray::with_max_entries(1, 0);

/// Read and written by userspace only: created with the other maps so that it is pinned
/// beside them.
#[map]
pub(crate) static FWXDP_LINKS: Array<LinkRecord> = Array::with_max_entries(LINK_ROLES, 0);
