//! Typed handles on an interface's maps, taken from a fresh load or opened from pins, and
//! the policy maps' reads and writes.

use std::{
    os::fd::AsFd as _,
    path::{Path, PathBuf},
};

use aya::{
    Ebpf,
    maps::{Array, IterableMap as _, LpmTrie, Map, MapData, MapError, lpm_trie::Key},
};
use fwxdp_common::{CidrKey, Config, port_index};

use super::names::MapPin;
use crate::policy::Policy;

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

impl MapsError {
    pub(crate) fn access(action: &'static str, map: MapPin, source: MapError) -> Self {
        Self::Access {
            action,
            name: map.object_name(),
            source: Box::new(source),
        }
    }
}

/// Where a handle comes from: a freshly loaded object (optionally pinning each map into a
/// directory), or existing pins.
pub enum MapSource<'a> {
    Loaded {
        ebpf: &'a mut Ebpf,
        pin_dir: Option<&'a Path>,
    },
    Pinned(&'a Path),
}

impl MapSource<'_> {
    /// The untyped `map`.
    pub fn map(&mut self, map: MapPin) -> Result<Map, MapsError> {
        match self {
            Self::Loaded { ebpf, pin_dir } => {
                let name = map.object_name();
                let taken = ebpf.take_map(name).ok_or(MapsError::Missing { name })?;
                if let Some(dir) = pin_dir {
                    let path = dir.join(map.pin_name());
                    taken.pin(&path).map_err(|source| MapsError::Pin {
                        name,
                        path,
                        source: Box::new(source),
                    })?;
                }
                Ok(taken)
            }
            Self::Pinned(dir) => {
                let path = dir.join(map.pin_name());
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

    /// `map`, as the typed handle `T`.
    pub fn open<T>(&mut self, map: MapPin) -> Result<T, MapsError>
    where
        T: TryFrom<Map, Error = MapError>,
    {
        T::try_from(self.map(map)?).map_err(|source| MapsError::Type {
            name: map.object_name(),
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
    pub fn open(source: &mut MapSource<'_>) -> Result<Self, MapsError> {
        Ok(Self {
            config: source.open(MapPin::Config)?,
            ports: source.open(MapPin::Ports)?,
            cidrs: source.open(MapPin::Cidrs)?,
        })
    }

    /// The configuration in force.
    pub fn config(&self) -> Result<Config, MapsError> {
        self.config
            .get(&0, 0)
            .map_err(|e| MapsError::access("read", MapPin::Config, e))
    }

    /// Replaces the configuration in one map update: this is the atomic switch.
    pub fn set_config(&mut self, config: &Config) -> Result<(), MapsError> {
        self.config
            .set(0, config, 0)
            .map_err(|e| MapsError::access("write", MapPin::Config, e))
    }

    /// Writes `policy` into `generation`, which must not be the one in force.
    pub fn write_generation(&mut self, generation: u8, policy: &Policy) -> Result<(), MapsError> {
        self.write_ports(generation, policy)?;
        let trie = |action, e| MapsError::access(action, MapPin::Cidrs, e);
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
        let flags = self.read_ports(generation)?;
        let mut cidrs = Vec::new();
        for key in self.cidrs.keys() {
            let key = key.map_err(|e| MapsError::access("read", MapPin::Cidrs, e))?;
            if key.data().generation == generation {
                cidrs.push((key.prefix_len(), key.data()));
            }
        }
        Ok(Policy::from_entries(&flags, cidrs))
    }

    /// Writes the port table of `generation`: 65,536 entries in one batch, entry by entry
    /// where the kernel has no batches for arrays.
    fn write_ports(&mut self, generation: u8, policy: &Policy) -> Result<(), MapsError> {
        let keys: Vec<u8> = (0..=u16::MAX)
            .flat_map(|port| port_index(generation, port).to_ne_bytes())
            .collect();
        let values: Vec<u8> = (0..=u16::MAX).map(|port| policy.port_flags(port)).collect();
        let count = u32::try_from(values.len()).unwrap_or(u32::MAX);
        // SAFETY: the ports map has u32 keys and u8 values (its type says so, and aya checked
        // the sizes when it opened it); both buffers hold `count` of them.
        let batch = unsafe {
            super::sys::update_batch(self.ports.map().fd().as_fd(), &keys, &values, count)
        };
        match batch {
            Ok(()) => return Ok(()),
            Err(e) if matches!(e.raw_os_error(), Some(libc::EINVAL | ENOTSUPP)) => {}
            Err(io_error) => {
                return Err(MapsError::access(
                    "write",
                    MapPin::Ports,
                    MapError::SyscallError(aya::sys::SyscallError {
                        call: "bpf_map_update_batch",
                        io_error,
                    }),
                ));
            }
        }
        for (port, flags) in (0..=u16::MAX).zip(values) {
            self.ports
                .set(port_index(generation, port), flags, 0)
                .map_err(|e| MapsError::access("write", MapPin::Ports, e))?;
        }
        Ok(())
    }

    /// Reads the port table of `generation`, in batches where the kernel has them.
    fn read_ports(&self, generation: u8) -> Result<Vec<u8>, MapsError> {
        const PORTS: usize = 1 << 16;
        let mut keys = vec![0u8; PORTS * 4];
        let mut values = vec![0u8; PORTS];
        let first = port_index(generation, 0);
        let from = first
            .checked_sub(1)
            .map(super::sys::BatchToken::after_index);
        let mut flags = Vec::with_capacity(PORTS);
        // SAFETY: the ports map has u32 keys and u8 values; the buffers hold PORTS of each.
        let batch = unsafe {
            super::sys::lookup_batch(
                self.ports.map().fd().as_fd(),
                from,
                &mut keys,
                4,
                &mut values,
                1,
            )
        };
        if let Ok((read, _)) = batch
            && read as usize == PORTS
            && keys[..4] == first.to_ne_bytes()
        {
            flags.extend_from_slice(&values);
            return Ok(flags);
        }
        for port in 0..=u16::MAX {
            flags.push(
                self.ports
                    .get(&port_index(generation, port), 0)
                    .map_err(|e| MapsError::access("read", MapPin::Ports, e))?,
            );
        }
        Ok(flags)
    }
}

/// The kernel's ENOTSUPP (not in libc): an operation the map type does not have.
const ENOTSUPP: i32 = 524;
