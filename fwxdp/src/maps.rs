//! Typed handles on one interface's maps, taken from a fresh load or opened from pins.

use std::path::{Path, PathBuf};

use std::os::fd::AsFd as _;

use aya::{
    Ebpf,
    maps::{Array, LpmTrie, Map, MapData, MapError, PerCpuArray, PerCpuHashMap, lpm_trie::Key},
};
use fwxdp_common::{
    CidrKey, Config, Counter, PortCounter, PortKey, Proto, Reason, map_name, port_index,
};

use crate::{pins::name, policy::Policy};

#[derive(Debug, thiserror::Error)]
pub enum MapsError {
    #[error("the BPF object has no map {name}")]
    Missing { name: &'static str },
    #[error("cannot open pinned map {path}")]
    Open {
        path: PathBuf,
        source: Box<MapError>,
    },
    #[error("cannot pin map {name} at {path}")]
    Pin {
        name: &'static str,
        path: PathBuf,
        source: Box<aya::pin::PinError>,
    },
    #[error("map {name} has an unexpected type or layout")]
    Type {
        name: &'static str,
        source: Box<MapError>,
    },
    #[error("cannot {action} map {name}")]
    Access {
        action: &'static str,
        name: &'static str,
        source: Box<MapError>,
    },
}

/// Where a handle comes from: a freshly loaded object (optionally pinning each map into a
/// directory), or existing pins.
pub enum Source<'a> {
    Loaded {
        ebpf: &'a mut Ebpf,
        pin_dir: Option<&'a Path>,
    },
    Pinned(&'a Path),
}

impl Source<'_> {
    /// The untyped map named `object_name` in the object, pinned as `pin_name`.
    pub fn map(
        &mut self,
        object_name: &'static str,
        pin_name: &'static str,
    ) -> Result<Map, MapsError> {
        match self {
            Self::Loaded { ebpf, pin_dir } => {
                let map = ebpf
                    .take_map(object_name)
                    .ok_or(MapsError::Missing { name: object_name })?;
                if let Some(dir) = pin_dir {
                    let path = dir.join(pin_name);
                    map.pin(&path).map_err(|source| MapsError::Pin {
                        name: object_name,
                        path,
                        source: Box::new(source),
                    })?;
                }
                Ok(map)
            }
            Self::Pinned(dir) => {
                let path = dir.join(pin_name);
                let data = MapData::from_pin(&path).map_err(|source| MapsError::Open {
                    path: path.clone(),
                    source: Box::new(source),
                })?;
                Map::from_map_data(data).map_err(|source| MapsError::Open {
                    path,
                    source: Box::new(source),
                })
            }
        }
    }

    fn open<T>(&mut self, object_name: &'static str, pin_name: &'static str) -> Result<T, MapsError>
    where
        T: TryFrom<Map, Error = MapError>,
    {
        T::try_from(self.map(object_name, pin_name)?).map_err(|source| MapsError::Type {
            name: object_name,
            source: Box::new(source),
        })
    }
}

/// The maps that hold the policy.
pub struct PolicyMaps {
    config: Array<MapData, Config>,
    ports: Array<MapData, u8>,
    cidrs: LpmTrie<MapData, CidrKey, u8>,
}

impl PolicyMaps {
    /// Takes (or opens) the policy maps.
    pub fn open(source: &mut Source<'_>) -> Result<Self, MapsError> {
        Ok(Self {
            config: source.open(map_name::CONFIG, name::CONFIG)?,
            ports: source.open(map_name::PORTS, name::PORTS)?,
            cidrs: source.open(map_name::CIDRS, name::CIDRS)?,
        })
    }

    /// The configuration in force.
    pub fn config(&self) -> Result<Config, MapsError> {
        self.config.get(&0, 0).map_err(|source| MapsError::Access {
            action: "read",
            name: map_name::CONFIG,
            source: Box::new(source),
        })
    }

    /// Replaces the configuration in one map update: this is the atomic switch.
    pub fn set_config(&mut self, config: &Config) -> Result<(), MapsError> {
        self.config
            .set(0, config, 0)
            .map_err(|source| MapsError::Access {
                action: "write",
                name: map_name::CONFIG,
                source: Box::new(source),
            })
    }

    /// Writes `policy` into `generation`, which must not be the one in force.
    pub fn write_generation(&mut self, generation: u8, policy: &Policy) -> Result<(), MapsError> {
        let write = |source| MapsError::Access {
            action: "write",
            name: map_name::PORTS,
            source: Box::new(source),
        };
        for port in 0..=u16::MAX {
            self.ports
                .set(port_index(generation, port), policy.port_flags(port), 0)
                .map_err(write)?;
        }
        let trie = |action, source| MapsError::Access {
            action,
            name: map_name::CIDRS,
            source: Box::new(source),
        };
        // An entry left behind would come back into force at the next switch: fail instead.
        let mut stale: Vec<Key<CidrKey>> = Vec::new();
        for key in self.cidrs.keys() {
            let key = key.map_err(|e| trie("read", e))?;
            if key.data().generation == generation {
                stale.push(key);
            }
        }
        for key in &stale {
            self.cidrs.remove(key).map_err(|e| trie("write", e))?;
        }
        for (prefix_len, key) in policy.cidr_entries(generation) {
            self.cidrs
                .insert(&Key::new(prefix_len, key), 1, 0)
                .map_err(|e| trie("write", e))?;
        }
        Ok(())
    }

    /// Reads back the policy stored in `generation`.
    pub fn read_policy(&self, generation: u8) -> Result<Policy, MapsError> {
        let read = |name, source| MapsError::Access {
            action: "read",
            name,
            source: Box::new(source),
        };
        let mut flags = Vec::with_capacity(1 << 16);
        for port in 0..=u16::MAX {
            flags.push(
                self.ports
                    .get(&port_index(generation, port), 0)
                    .map_err(|e| read(map_name::PORTS, e))?,
            );
        }
        let mut cidrs = Vec::new();
        for key in self.cidrs.keys() {
            let key = key.map_err(|e| read(map_name::CIDRS, e))?;
            if key.data().generation == generation {
                cidrs.push((key.prefix_len(), key.data()));
            }
        }
        Ok(Policy::from_entries(&flags, cidrs))
    }
}

/// The counters, summed over CPUs.
pub struct CounterMaps {
    reasons: PerCpuArray<MapData, Counter>,
    /// A per-CPU hash of [`PortKey`] → [`PortCounter`], kept untyped to read it in batches.
    port_drops: Map,
    port_overflow: PerCpuArray<MapData, Counter>,
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
}

impl CounterMaps {
    /// Takes (or opens) the counter maps.
    pub fn open(source: &mut Source<'_>) -> Result<Self, MapsError> {
        Ok(Self {
            reasons: source.open(map_name::REASONS, name::REASONS)?,
            port_drops: source.map(map_name::PORT_DROPS, name::PORT_DROPS)?,
            port_overflow: source.open(map_name::PORT_OVERFLOW, name::PORT_OVERFLOW)?,
        })
    }

    /// Sums every counter over the CPUs.
    pub fn totals(&self) -> Result<Totals, MapsError> {
        let read = |name, source| MapsError::Access {
            action: "read",
            name,
            source: Box::new(source),
        };
        let mut totals = Totals::default();
        for reason in Reason::ALL {
            let values = self
                .reasons
                .get(&(reason as u32), 0)
                .map_err(|e| read(map_name::REASONS, e))?;
            totals.reasons.push((reason, sum(&values)));
        }
        totals.port_drops = self
            .port_totals()
            .map_err(|e| read(map_name::PORT_DROPS, e))?;
        totals.port_drops.sort_by_key(|t| (t.proto, t.port));
        for proto in Proto::ALL {
            let values = self
                .port_overflow
                .get(&(proto as u32), 0)
                .map_err(|e| read(map_name::PORT_OVERFLOW, e))?;
            totals.port_overflow.push((proto, sum(&values)));
        }
        Ok(totals)
    }
}

impl CounterMaps {
    /// The per-port drops, summed over CPUs: in batches of the whole table (two bpf(2)
    /// calls rather than two per port), or entry by entry where batches are unsupported.
    fn port_totals(&self) -> Result<Vec<PortTotal>, MapError> {
        let Map::PerCpuHashMap(data) = &self.port_drops else {
            return Err(MapError::InvalidMapType { map_type: 0 });
        };
        let cpus = aya::util::nr_cpus().map_err(|(_, error)| {
            MapError::SyscallError(aya::sys::SyscallError {
                call: "nr_cpus",
                io_error: error,
            })
        })?;
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
                crate::sys::lookup_batch(
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

fn sum(values: &[Counter]) -> Counter {
    values.iter().fold(Counter::default(), |acc, c| Counter {
        packets: acc.packets + c.packets,
        bytes: acc.bytes + c.bytes,
    })
}
