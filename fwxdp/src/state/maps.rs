//! Typed handles on an interface's maps, taken from a fresh load or opened from pins, and
//! the policy maps' reads and writes.

use std::{
    os::fd::AsFd as _,
    path::{Path, PathBuf},
};

use aya::{
    Ebpf,
    maps::{Array, HashMap, IterableMap as _, LpmTrie, Map, MapData, MapError, lpm_trie::Key},
};
use fwxdp_common::{CidrKey, Config, Limit, LimitKey, port_index, protocol_index};

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
    ports: Array<MapData, u16>,
    protocols: Array<MapData, u8>,
    cidrs: LpmTrie<MapData, CidrKey, u8>,
    limits: HashMap<MapData, LimitKey, Limit>,
}

impl PolicyMaps {
    /// Takes (or opens) the policy maps.
    pub fn open(source: &mut MapSource<'_>) -> Result<Self, MapsError> {
        Ok(Self {
            config: source.open(MapPin::Config)?,
            ports: source.open(MapPin::Ports)?,
            protocols: source.open(MapPin::Protocols)?,
            cidrs: source.open(MapPin::Cidrs)?,
            limits: source.open(MapPin::Limits)?,
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
        self.write_protocols(generation, policy)?;
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
        self.write_limits(generation, policy)
    }

    /// Replaces the limits of `generation`: stale ones first, as for the trie.
    fn write_limits(&mut self, generation: u8, policy: &Policy) -> Result<(), MapsError> {
        let limits = |action, e| MapsError::access(action, MapPin::Limits, e);
        let mut stale = Vec::new();
        for key in self.limits.keys() {
            let key = key.map_err(|e| limits("read", e))?;
            if key.generation == generation {
                stale.push(key);
            }
        }
        for key in &stale {
            self.limits.remove(key).map_err(|e| limits("write", e))?;
        }
        for (key, limit) in policy.limit_entries(generation) {
            self.limits
                .insert(key, limit, 0)
                .map_err(|e| limits("write", e))?;
        }
        Ok(())
    }

    /// Reads back the policy stored in `generation`.
    pub fn read_policy(&self, generation: u8) -> Result<Policy, MapsError> {
        let flags = read_array(
            &self.ports,
            MapPin::Ports,
            port_index(generation, 0),
            1 << 16,
        )?;
        let protocol_flags = read_array(
            &self.protocols,
            MapPin::Protocols,
            protocol_index(generation, 0),
            256,
        )?;
        let mut cidrs = Vec::new();
        for key in self.cidrs.keys() {
            let key = key.map_err(|e| MapsError::access("read", MapPin::Cidrs, e))?;
            if key.data().generation == generation {
                cidrs.push((key.prefix_len(), key.data()));
            }
        }
        let mut limits = Vec::new();
        for entry in &self.limits {
            let (key, limit) = entry.map_err(|e| MapsError::access("read", MapPin::Limits, e))?;
            if key.generation == generation {
                limits.push((key, limit));
            }
        }
        Ok(Policy::from_entries(&flags, &protocol_flags, cidrs, limits))
    }

    /// Writes the port table of `generation` (65,536 entries) in one batch.
    fn write_ports(&mut self, generation: u8, policy: &Policy) -> Result<(), MapsError> {
        let indexes: Vec<u32> = (0..=u16::MAX)
            .map(|port| port_index(generation, port))
            .collect();
        let flags: Vec<u16> = (0..=u16::MAX).map(|port| policy.port_flags(port)).collect();
        write_array(&mut self.ports, MapPin::Ports, &indexes, &flags)
    }

    /// Writes the protocol table of `generation` (256 entries) in one batch.
    fn write_protocols(&mut self, generation: u8, policy: &Policy) -> Result<(), MapsError> {
        let indexes: Vec<u32> = (0..=u8::MAX)
            .map(|number| protocol_index(generation, number))
            .collect();
        let flags: Vec<u8> = (0..=u8::MAX).map(|n| policy.protocol_flags(n)).collect();
        write_array(&mut self.protocols, MapPin::Protocols, &indexes, &flags)
    }
}

/// Writes `values[i]` at `indexes[i]` of the array `map`: in one batch (one bpf(2) call,
/// which a fault-injected kill meets once, not per entry), entry by entry where the kernel
/// has no batches for arrays.
fn write_array<V: aya::Pod + bytemuck::Pod>(
    map: &mut Array<MapData, V>,
    pin: MapPin,
    indexes: &[u32],
    values: &[V],
) -> Result<(), MapsError> {
    let count = u32::try_from(values.len().min(indexes.len())).unwrap_or(u32::MAX);
    // SAFETY: the map has u32 keys and values of V (its type says so, and aya checked the
    // sizes when it opened it); both buffers hold `count` of them, packed as arrays take them.
    let batch = unsafe {
        super::sys::update_batch(
            map.map().fd().as_fd(),
            bytemuck::cast_slice(indexes),
            bytemuck::cast_slice(values),
            count,
        )
    };
    match batch {
        Ok(()) => return Ok(()),
        Err(e) if matches!(e.raw_os_error(), Some(libc::EINVAL | ENOTSUPP)) => {}
        Err(io_error) => {
            return Err(MapsError::access(
                "write",
                pin,
                MapError::SyscallError(aya::sys::SyscallError {
                    call: "bpf_map_update_batch",
                    io_error,
                }),
            ));
        }
    }
    for (&index, value) in indexes.iter().zip(values) {
        map.set(index, value, 0)
            .map_err(|e| MapsError::access("write", pin, e))?;
    }
    Ok(())
}

/// Reads `count` entries of the array `map` from index `first`, in one batch where the kernel
/// has them.
fn read_array<V: aya::Pod + bytemuck::Pod>(
    map: &Array<MapData, V>,
    pin: MapPin,
    first: u32,
    count: usize,
) -> Result<Vec<V>, MapsError> {
    let mut keys = vec![0u8; count * 4];
    let mut values = vec![0u8; count * size_of::<V>()];
    let from = first
        .checked_sub(1)
        .map(super::sys::BatchToken::after_index);
    // SAFETY: the map has u32 keys and values of V; the buffers hold `count` of each.
    let batch = unsafe {
        super::sys::lookup_batch(
            map.map().fd().as_fd(),
            from,
            &mut keys,
            4,
            &mut values,
            size_of::<V>(),
        )
    };
    if let Ok((read, _)) = batch
        && read as usize == count
        && keys[..4] == first.to_ne_bytes()
    {
        return Ok(values
            .chunks_exact(size_of::<V>())
            .map(bytemuck::pod_read_unaligned)
            .collect());
    }
    (first..)
        .take(count)
        .map(|index| {
            map.get(&index, 0)
                .map_err(|e| MapsError::access("read", pin, e))
        })
        .collect()
}

/// The kernel's ENOTSUPP (not in libc): an operation the map type does not have.
const ENOTSUPP: i32 = 524;
