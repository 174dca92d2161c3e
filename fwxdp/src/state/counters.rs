//! The counter maps of an interface, summed over CPUs: packets and bytes per reason, drops
//! per (proto, port) read in batches, the per-port table's overflow, and drops per IP
//! protocol number.

use std::os::fd::AsFd as _;

use aya::maps::{Map, MapData, MapError, PerCpuArray, PerCpuHashMap};
use fwxdp_common::{Counter, LogState, PortCounter, PortKey, Proto, Reason};

use super::{
    maps::{MapSource, MapsError},
    names::MapPin,
};

/// The counters, summed over CPUs.
pub struct CounterMaps {
    reasons: PerCpuArray<MapData, Counter>,
    /// A per-CPU hash of [`PortKey`] → [`PortCounter`], kept untyped to read it in batches.
    port_drops: Map,
    port_overflow: PerCpuArray<MapData, Counter>,
    /// A per-CPU array of [`Counter`] per IP protocol number, untyped to read it in a batch.
    protocol_drops: Map,
    /// Drops of reason `ratelimit` per (proto, port): as few entries as limited ports.
    limit_drops: PerCpuHashMap<MapData, PortKey, Counter>,
    /// The drop log's per-CPU state.
    log_state: PerCpuArray<MapData, LogState>,
}

/// The drops of one (proto, port), summed over CPUs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PortTotal {
    pub proto: Proto,
    pub port: u16,
    pub counter: Counter,
    /// When the port was first dropped (monotonic clock, ns): orders ports in time.
    pub first_seen: u64,
}

/// Counter totals of one interface.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Totals {
    /// Per [`Reason`], in index order.
    pub reasons: Vec<(Reason, Counter)>,
    /// Drops per (proto, port), sorted by proto and port.
    pub port_drops: Vec<PortTotal>,
    /// Port drops that found the per-port map full, per protocol.
    pub port_overflow: Vec<(Proto, Counter)>,
    /// Drops of reason `protocol` per IP protocol number, those with any, by number.
    pub protocol_drops: Vec<(u8, Counter)>,
    /// Drops of reason `ratelimit` per (proto, port), sorted.
    pub limit_drops: Vec<(Proto, u16, Counter)>,
    /// Drops the drop log left out: over its rate, and with its ring buffer full.
    pub log_suppressed: u64,
    pub log_lost: u64,
}

impl CounterMaps {
    /// Takes (or opens) the counter maps.
    pub fn open(source: &mut MapSource<'_>) -> Result<Self, MapsError> {
        Ok(Self {
            reasons: source.open(MapPin::Reasons)?,
            port_drops: source.map(MapPin::PortDrops)?,
            port_overflow: source.open(MapPin::PortOverflow)?,
            protocol_drops: source.map(MapPin::ProtocolDrops)?,
            limit_drops: source.open(MapPin::LimitDrops)?,
            log_state: source.open(MapPin::LogState)?,
        })
    }

    /// Sums every counter over the CPUs.
    pub fn totals(&self) -> Result<Totals, MapsError> {
        let read = |map, e| MapsError::access("read", map, e);
        let mut totals = Totals::default();
        for reason in Reason::ALL {
            let values = self
                .reasons
                .get(&(reason as u32), 0)
                .map_err(|e| read(MapPin::Reasons, e))?;
            totals.reasons.push((reason, sum(&values)));
        }
        totals.port_drops = self.port_totals().map_err(|e| read(MapPin::PortDrops, e))?;
        totals.port_drops.sort_by_key(|t| (t.proto, t.port));
        for proto in Proto::ALL {
            let values = self
                .port_overflow
                .get(&(proto as u32), 0)
                .map_err(|e| read(MapPin::PortOverflow, e))?;
            totals.port_overflow.push((proto, sum(&values)));
        }
        totals.protocol_drops = self
            .protocol_totals()
            .map_err(|e| read(MapPin::ProtocolDrops, e))?;
        for entry in &self.limit_drops {
            let (key, values) = entry.map_err(|e| read(MapPin::LimitDrops, e))?;
            if let Some(proto) = Proto::from_raw(key.proto) {
                totals.limit_drops.push((proto, key.port, sum(&values)));
            }
        }
        totals
            .limit_drops
            .sort_by_key(|&(proto, port, _)| (proto, port));
        let log = self
            .log_state
            .get(&0, 0)
            .map_err(|e| read(MapPin::LogState, e))?;
        totals.log_suppressed = log.iter().map(|s| s.suppressed).sum();
        totals.log_lost = log.iter().map(|s| s.lost).sum();
        Ok(totals)
    }

    /// The drops per IP protocol number, summed over CPUs: the 256 entries in one batch, or
    /// entry by entry where arrays have no batches.
    fn protocol_totals(&self) -> Result<Vec<(u8, Counter)>, MapError> {
        const NUMBERS: usize = 256;
        let Map::PerCpuArray(data) = &self.protocol_drops else {
            return Err(MapError::InvalidMapType { map_type: 0 });
        };
        let cpus = nr_cpus()?;
        let stride = size_of::<Counter>() * cpus;
        let mut keys = vec![0u8; NUMBERS * 4];
        let mut values = vec![0u8; NUMBERS * stride];
        // SAFETY: u32 keys and per-CPU Counter values (16 bytes, a multiple of 8, so a value
        // is 16 bytes per CPU); the buffers hold NUMBERS of each.
        let batch = unsafe {
            super::sys::lookup_batch(data.fd().as_fd(), None, &mut keys, 4, &mut values, stride)
        };
        let mut totals = Vec::new();
        if let Ok((read, _)) = batch
            && read as usize == NUMBERS
        {
            for (number, slots) in (0..=u8::MAX).zip(values.chunks_exact(stride)) {
                let total = slots
                    .chunks_exact(size_of::<Counter>())
                    .map(bytemuck::pod_read_unaligned::<Counter>)
                    .fold(Counter::default(), add);
                if total.packets != 0 {
                    totals.push((number, total));
                }
            }
            return Ok(totals);
        }
        let map: PerCpuArray<&MapData, Counter> = PerCpuArray::try_from(&self.protocol_drops)?;
        for number in 0..=u8::MAX {
            let total = sum(&map.get(&u32::from(number), 0)?);
            if total.packets != 0 {
                totals.push((number, total));
            }
        }
        Ok(totals)
    }

    /// The per-port drops, summed over CPUs: in batches of the whole table (two bpf(2)
    /// calls rather than two per port), or entry by entry where batches are unsupported.
    fn port_totals(&self) -> Result<Vec<PortTotal>, MapError> {
        let Map::PerCpuHashMap(data) = &self.port_drops else {
            return Err(MapError::InvalidMapType { map_type: 0 });
        };
        let cpus = nr_cpus()?;
        let mut totals = Vec::new();
        let mut add = |key: PortKey, per_cpu: &mut dyn Iterator<Item = PortCounter>| {
            let Some(proto) = Proto::from_raw(key.proto) else {
                return;
            };
            let mut total = PortTotal {
                proto,
                port: key.port,
                counter: Counter::default(),
                first_seen: 0,
            };
            for value in per_cpu {
                total.counter.packets += value.packets;
                total.counter.bytes += value.bytes;
                total.first_seen = total.first_seen.max(value.first_seen);
            }
            totals.push(total);
        };
        let capacity = fwxdp_common::PORT_DROPS_MAX_ENTRIES as usize;
        let (key_size, value_size) = (size_of::<PortKey>(), size_of::<PortCounter>() * cpus);
        // The batch call writes entries of the map's own sizes: they must be ours.
        let info = data.info()?;
        if info.key_size() as usize != size_of::<PortKey>()
            || info.value_size() as usize != size_of::<PortCounter>()
        {
            return Err(MapError::InvalidValueSize {
                size: info.value_size() as usize,
                expected: size_of::<PortCounter>(),
            });
        }
        let mut keys = vec![0u8; capacity * key_size];
        let mut values = vec![0u8; capacity * value_size];
        let mut token = None;
        loop {
            // SAFETY: the sizes were checked against the map's above; PortCounter is 24
            // bytes, already a multiple of 8, so a per-CPU value is 24 bytes per CPU.
            let batch = unsafe {
                super::sys::lookup_batch(
                    data.fd().as_fd(),
                    token,
                    &mut keys,
                    key_size,
                    &mut values,
                    value_size,
                )
            };
            let (read, next) = match batch {
                Ok(result) => result,
                // Batches arrived in Linux 5.6 and not for every map type: read entry by
                // entry instead (only possible before anything was added).
                Err(e)
                    if token.is_none() && matches!(e.raw_os_error(), Some(libc::EINVAL | 524)) =>
                {
                    let map: PerCpuHashMap<&MapData, PortKey, PortCounter> =
                        PerCpuHashMap::try_from(&self.port_drops)?;
                    for entry in &map {
                        let (key, values) = entry?;
                        add(key, &mut values.iter().copied());
                    }
                    break;
                }
                Err(io_error) => {
                    return Err(MapError::SyscallError(aya::sys::SyscallError {
                        call: "bpf_map_lookup_batch",
                        io_error,
                    }));
                }
            };
            for i in 0..read as usize {
                let key: PortKey = bytemuck::pod_read_unaligned(&keys[i * key_size..][..key_size]);
                let slots = &values[i * value_size..][..value_size];
                add(
                    key,
                    &mut slots
                        .chunks_exact(size_of::<PortCounter>())
                        .map(bytemuck::pod_read_unaligned::<PortCounter>),
                );
            }
            match next {
                Some(next) => token = Some(next),
                None => break,
            }
        }
        Ok(totals)
    }
}

fn nr_cpus() -> Result<usize, MapError> {
    aya::util::nr_cpus().map_err(|(_, error)| {
        MapError::SyscallError(aya::sys::SyscallError {
            call: "nr_cpus",
            io_error: error,
        })
    })
}

fn sum(values: &[Counter]) -> Counter {
    values.iter().copied().fold(Counter::default(), add)
}

fn add(acc: Counter, c: Counter) -> Counter {
    Counter {
        packets: acc.packets + c.packets,
        bytes: acc.bytes + c.bytes,
    }
}
