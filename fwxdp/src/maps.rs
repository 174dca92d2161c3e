//! Typed handles on one interface's maps, taken from a fresh load or opened from pins.

use std::path::{Path, PathBuf};

use aya::{
    Ebpf,
    maps::{Array, LpmTrie, Map, MapData, MapError, PerCpuArray, PerCpuHashMap, lpm_trie::Key},
};
use fwxdp_common::{CidrKey, Config, Counter, PortKey, Proto, Reason, map_name, port_index};

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
    port_drops: PerCpuHashMap<MapData, PortKey, Counter>,
    port_overflow: PerCpuArray<MapData, Counter>,
}

/// Counter totals of one interface.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Totals {
    /// Per [`Reason`], in index order.
    pub reasons: Vec<(Reason, Counter)>,
    /// Drops per (proto, port), sorted.
    pub port_drops: Vec<(Proto, u16, Counter)>,
    /// Port drops that found the per-port map full, per protocol.
    pub port_overflow: Vec<(Proto, Counter)>,
}

impl CounterMaps {
    /// Takes (or opens) the counter maps.
    pub fn open(source: &mut Source<'_>) -> Result<Self, MapsError> {
        Ok(Self {
            reasons: source.open(map_name::REASONS, name::REASONS)?,
            port_drops: source.open(map_name::PORT_DROPS, name::PORT_DROPS)?,
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
        for entry in &self.port_drops {
            let (key, values) = entry.map_err(|e| read(map_name::PORT_DROPS, e))?;
            if let Some(proto) = Proto::from_raw(key.proto) {
                totals.port_drops.push((proto, key.port, sum(&values)));
            }
        }
        totals
            .port_drops
            .sort_by_key(|(proto, port, _)| (*proto, *port));
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

fn sum(values: &[Counter]) -> Counter {
    values.iter().fold(Counter::default(), |acc, c| Counter {
        packets: acc.packets + c.packets,
        bytes: acc.bytes + c.bytes,
    })
}
