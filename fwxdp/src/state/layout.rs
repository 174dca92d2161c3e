//! What pins of every layout share: the start of the config
//! ([`fwxdp_common::CONFIG_STABLE_PREFIX`]), read as bytes, so that an fwxdp can tell which
//! layout it finds, and for which interface, before it opens anything by type.

use std::os::fd::AsFd as _;

use aya::maps::{MapData, MapError};
use fwxdp_common::CONFIG_STABLE_PREFIX;

use super::{maps::MapsError, names::MapPin, pins::PinDir, sys};

/// The shared start of a pinned config, of whatever layout.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PinnedLayout {
    /// [`fwxdp_common::CONFIG_VERSION`] of the fwxdp that made the pins.
    pub version: u8,
    /// The attach mode it recorded.
    pub mode: u8,
    /// The interface its programs were attached to.
    pub ifindex: u32,
    /// When the interface was first attached (seconds since the Unix epoch).
    pub attached_at: u64,
}

impl PinnedLayout {
    /// The shared start of a config value, or `None` when it is too short to have one.
    #[must_use]
    pub fn parse(value: &[u8]) -> Option<Self> {
        let prefix = value.get(..CONFIG_STABLE_PREFIX)?;
        let u32_at = |at: usize| prefix[at..at + 4].try_into().map(u32::from_ne_bytes);
        let u64_at = |at: usize| prefix[at..at + 8].try_into().map(u64::from_ne_bytes);
        Some(Self {
            mode: prefix[2],
            version: prefix[3],
            ifindex: u32_at(4).ok()?,
            attached_at: u64_at(8).ok()?,
        })
    }
}

impl PinDir {
    /// The layout of the config pinned here, and what it says of the interface.
    pub fn layout(&self) -> Result<PinnedLayout, MapsError> {
        let path = self.map(MapPin::Config);
        let open = |source: MapError| MapsError::Open {
            path: path.clone(),
            source: Box::new(source),
        };
        let map = MapData::from_pin(&path).map_err(open)?;
        let info = map.info().map_err(open)?;
        let unreadable = || MapsError::Type {
            name: MapPin::Config.object_name(),
            source: Box::new(MapError::InvalidValueSize {
                size: info.value_size() as usize,
                expected: CONFIG_STABLE_PREFIX,
            }),
        };
        if info.key_size() != 4 {
            return Err(MapsError::Type {
                name: MapPin::Config.object_name(),
                source: Box::new(MapError::InvalidKeySize {
                    size: info.key_size() as usize,
                    expected: 4,
                }),
            });
        }
        let mut value = vec![0; info.value_size() as usize];
        // SAFETY: the key is 4 bytes and the value the map's value size, as its info says.
        unsafe { sys::lookup_raw(map.fd().as_fd(), &0u32.to_ne_bytes(), &mut value) }.map_err(
            |io_error| {
                MapsError::access(
                    "read",
                    MapPin::Config,
                    MapError::SyscallError(aya::sys::SyscallError {
                        call: "bpf_map_lookup_elem",
                        io_error,
                    }),
                )
            },
        )?;
        PinnedLayout::parse(&value).ok_or_else(unreadable)
    }
}

#[cfg(test)]
mod tests {
    use fwxdp_common::{CONFIG_VERSION, Config};

    use super::*;

    #[test]
    fn the_shared_start_reads_the_same_from_any_longer_layout() {
        let config = Config {
            generation: 1,
            mode: 3,
            version: CONFIG_VERSION,
            ifindex: 0x0102_0304,
            attached_at: 1_700_000_000,
            open_tcp: 9,
            ..Config::default()
        };
        let mut bytes = bytemuck::bytes_of(&config).to_vec();
        let expected = PinnedLayout {
            version: CONFIG_VERSION,
            mode: 3,
            ifindex: 0x0102_0304,
            attached_at: 1_700_000_000,
        };
        assert_eq!(PinnedLayout::parse(&bytes), Some(expected));
        // A later layout that grows the config.
        bytes.extend_from_slice(&[0xff; 24]);
        assert_eq!(PinnedLayout::parse(&bytes), Some(expected));
        assert_eq!(
            PinnedLayout::parse(&bytes[..CONFIG_STABLE_PREFIX - 1]),
            None
        );
    }
}
