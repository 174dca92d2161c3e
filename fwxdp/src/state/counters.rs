//! The counter maps of an interface, summed over CPUs: packets and bytes per reason, drops
//! per (proto, port) read in a batch, the per-port table's overflow, and drops per IP
//! protocol number.

use std::{collections::HashMap, os::fd::AsFd as _};

use aya::maps::{Map, MapData, MapError, PerCpuArray, PerCpuHashMap};
use bytemuck::Pod;
use fwxdp_common::{Counter, LogState, PortKey, PortSlot, Proto, Reason};

use super::{
    maps::{MapSource, MapsError},
    names::MapPin,
};

/// The counters, summed over CPUs.
pub struct CounterMaps {
    reasons: PerCpuArray<MapData, Counter>,
    /// A per-CPU array of [`PortSlot`], kept untyped to read it in a batch.
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
    /// When the port was first dropped, on the CPU that dropped it first (monotonic clock,
    /// ns): orders ports in time.
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

    /// The drops per IP protocol number, summed over CPUs, those with any.
    fn protocol_totals(&self) -> Result<Vec<(u8, Counter)>, MapError> {
        let values: Vec<Counter> =
            read_per_cpu_array(&self.protocol_drops, fwxdp_common::PROTOCOL_NUMBERS)?;
        let cpus = nr_cpus()?;
        Ok((0..=u8::MAX)
            .zip(values.chunks_exact(cpus))
            .map(|(number, slots)| (number, sum(slots)))
            .filter(|(_, total)| total.packets != 0)
            .collect())
    }

    /// The per-port drops: every CPU's slots, merged by port.
    fn port_totals(&self) -> Result<Vec<PortTotal>, MapError> {
        let slots: Vec<PortSlot> =
            read_per_cpu_array(&self.port_drops, fwxdp_common::PORT_DROPS_MAX_ENTRIES)?;
        Ok(merge_port_slots(&slots))
    }
}

/// The totals per (proto, port) of slots of any CPUs, unordered. A slot still being taken
/// (its time not yet visible) is left out: it holds only what its CPU is counting now.
fn merge_port_slots(slots: &[PortSlot]) -> Vec<PortTotal> {
    let mut totals: HashMap<u32, PortTotal> = HashMap::new();
    for slot in slots.iter().filter(|s| s.first_seen != 0) {
        let Some((proto, port)) = fwxdp_common::port_slot_port(slot.key) else {
            continue;
        };
        let total = totals.entry(slot.key).or_insert(PortTotal {
            proto,
            port,
            counter: Counter::default(),
            first_seen: u64::MAX,
        });
        total.counter.packets += slot.packets;
        total.counter.bytes += slot.bytes;
        total.first_seen = total.first_seen.min(slot.first_seen);
    }
    totals.into_values().collect()
}

/// Every entry of the per-CPU array `map` of `entries` entries of `T`, entry by entry and
/// within each CPU by CPU: in one batch (one bpf(2) call), or entry by entry where arrays
/// have no batches.
fn read_per_cpu_array<T: Pod + aya::Pod>(map: &Map, entries: u32) -> Result<Vec<T>, MapError> {
    let Map::PerCpuArray(data) = map else {
        return Err(MapError::InvalidMapType { map_type: 0 });
    };
    // The batch call writes values of the map's own size: it must be ours.
    let info = data.info()?;
    if info.value_size() as usize != size_of::<T>() {
        return Err(MapError::InvalidValueSize {
            size: info.value_size() as usize,
            expected: size_of::<T>(),
        });
    }
    if info.max_entries() != entries {
        return Err(MapError::OutOfBounds {
            index: entries,
            max_entries: info.max_entries(),
        });
    }
    let cpus = nr_cpus()?;
    // A per-CPU value is rounded up to 8 bytes per CPU.
    let slot = size_of::<T>().next_multiple_of(8);
    let stride = slot * cpus;
    let count = entries as usize;
    let mut keys = vec![0u8; count * 4];
    let mut values = vec![0u8; count * stride];
    // SAFETY: u32 keys and per-CPU values of the map's size (checked above), `slot` bytes per
    // CPU; the buffers hold `count` of each.
    let batch = unsafe {
        super::sys::lookup_batch(data.fd().as_fd(), None, &mut keys, 4, &mut values, stride)
    };
    match batch {
        Ok((read, _)) if read as usize == count => {
            return Ok(values
                .chunks_exact(slot)
                .map(|bytes| bytemuck::pod_read_unaligned::<T>(&bytes[..size_of::<T>()]))
                .collect());
        }
        // Batches arrived in Linux 5.6 and not for every map type.
        Err(e) if !matches!(e.raw_os_error(), Some(libc::EINVAL | 524)) => {
            return Err(MapError::SyscallError(aya::sys::SyscallError {
                call: "bpf_map_lookup_batch",
                io_error: e,
            }));
        }
        _ => {}
    }
    let map: PerCpuArray<&MapData, T> = PerCpuArray::try_from(map)?;
    let mut all = Vec::with_capacity(count * cpus);
    for index in 0..entries {
        all.extend(map.get(&index, 0)?.iter().copied());
    }
    Ok(all)
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

#[cfg(test)]
mod tests {
    use fwxdp_common::port_slot_key;

    use super::*;

    fn slot(proto: Proto, port: u16, packets: u64, first_seen: u64) -> PortSlot {
        PortSlot {
            key: port_slot_key(proto, port),
            packets,
            bytes: packets * 60,
            first_seen,
            ..PortSlot::default()
        }
    }

    #[test]
    fn slots_of_one_port_on_several_cpus_add_up_and_keep_the_earliest_time() {
        let slots = [
            // CPU 0's slot for 22/tcp, CPU 1's, and CPU 1's for 53/udp elsewhere.
            slot(Proto::Tcp, 22, 3, 500),
            slot(Proto::Tcp, 22, 4, 200),
            PortSlot::default(),
            slot(Proto::Udp, 53, 1, 900),
        ];
        let mut totals = merge_port_slots(&slots);
        totals.sort_by_key(|t| (t.proto, t.port));
        assert_eq!(
            totals,
            [
                PortTotal {
                    proto: Proto::Tcp,
                    port: 22,
                    counter: Counter {
                        packets: 7,
                        bytes: 420
                    },
                    first_seen: 200,
                },
                PortTotal {
                    proto: Proto::Udp,
                    port: 53,
                    counter: Counter {
                        packets: 1,
                        bytes: 60
                    },
                    first_seen: 900,
                },
            ]
        );
    }

    #[test]
    fn a_slot_being_taken_or_of_an_unknown_protocol_is_left_out() {
        let mut taking = slot(Proto::Tcp, 80, 1, 0);
        taking.first_seen = 0;
        let stranger = PortSlot {
            key: port_slot_key(Proto::Tcp, 80) + (9 << 16),
            packets: 1,
            first_seen: 5,
            ..PortSlot::default()
        };
        assert_eq!(merge_port_slots(&[taking, stranger]), []);
    }
}
