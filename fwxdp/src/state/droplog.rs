//! Reading the drop log: the events in an interface's ring buffer, and when each happened
//! on the wall clock.

use std::{
    net::IpAddr,
    os::fd::AsFd as _,
    path::Path,
    time::{Duration, SystemTime},
};

use aya::maps::{Map, MapData, MapError, RingBuf};
use fwxdp_common::{DropEvent, FAMILY_V4, FAMILY_V6, Reason};

use super::{blocks::now_ns, names::MapPin, root::PinRoot};

/// One dropped packet, decoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DropEntry {
    pub interface: String,
    pub time: SystemTime,
    pub reason: Reason,
    /// `None` for a frame whose IP header could not be read.
    pub src: Option<IpAddr>,
    pub dst: Option<IpAddr>,
    /// The IP protocol number; 0 without an IP header.
    pub protocol: u8,
    /// Ports of the protocols that have them; 0 otherwise.
    pub src_port: u16,
    pub dst_port: u16,
    pub tcp_flags: u8,
    pub len: u32,
}

/// A reader for each interface attached under `root`, and why the ring of each other one
/// that has one could not be opened (pins of another fwxdp); interfaces going away meanwhile
/// are left out.
#[must_use]
pub fn open_all(root: &PinRoot) -> (Vec<DropReader>, Vec<(String, MapError)>) {
    let (mut readers, mut errors) = (Vec::new(), Vec::new());
    for name in root.interfaces().unwrap_or_default() {
        let path = root.iface_dir(&name).map(MapPin::Log);
        match DropReader::open(&name, &path) {
            Ok(reader) => readers.push(reader),
            Err(e) if path.exists() => errors.push((name, e)),
            Err(_) => {}
        }
    }
    (readers, errors)
}

/// The ring buffer of one interface, opened from its pin.
pub struct DropReader {
    interface: String,
    ring: RingBuf<MapData>,
}

impl DropReader {
    /// Opens the ring pinned at `path` for `interface`.
    pub fn open(interface: &str, path: &Path) -> Result<Self, MapError> {
        let data = MapData::from_pin(path)?;
        let ring = RingBuf::try_from(Map::RingBuf(data))?;
        Ok(Self {
            interface: interface.to_owned(),
            ring,
        })
    }

    /// Reads the ring `map` (of an instance just loaded) for `interface`.
    pub fn from_map(interface: &str, map: &Map) -> Result<Self, MapError> {
        let Map::RingBuf(data) = map else {
            return Err(MapError::InvalidMapType { map_type: 0 });
        };
        let fd = data.fd().as_fd().try_clone_to_owned().map_err(|io_error| {
            MapError::SyscallError(aya::sys::SyscallError {
                call: "dup",
                io_error,
            })
        })?;
        let ring = RingBuf::try_from(Map::RingBuf(MapData::from_fd(fd)?))?;
        Ok(Self {
            interface: interface.to_owned(),
            ring,
        })
    }

    /// The interface it reads.
    #[must_use]
    pub fn interface(&self) -> &str {
        &self.interface
    }

    /// Takes every event waiting, oldest first.
    pub fn drain(&mut self) -> Vec<DropEntry> {
        let (wall, mono) = (SystemTime::now(), now_ns());
        let mut drops = Vec::new();
        while let Some(item) = self.ring.next() {
            if item.len() < size_of::<DropEvent>() {
                continue;
            }
            let event: DropEvent = bytemuck::pod_read_unaligned(&item[..size_of::<DropEvent>()]);
            drops.push(decode(&self.interface, &event, wall, mono));
        }
        drops
    }
}

fn decode(interface: &str, event: &DropEvent, wall: SystemTime, mono: u64) -> DropEntry {
    let addr = |bytes: &[u8; 16]| match event.family {
        FAMILY_V4 => Some(IpAddr::from([bytes[0], bytes[1], bytes[2], bytes[3]])),
        FAMILY_V6 => Some(IpAddr::from(*bytes)),
        _ => None,
    };
    let ago = Duration::from_nanos(mono.saturating_sub(event.time_ns));
    DropEntry {
        interface: interface.to_owned(),
        time: wall.checked_sub(ago).unwrap_or(wall),
        reason: Reason::ALL
            .get(usize::from(event.reason))
            .copied()
            .unwrap_or(Reason::Malformed),
        src: addr(&event.src),
        dst: addr(&event.dst),
        protocol: event.protocol,
        src_port: event.src_port,
        dst_port: event.dst_port,
        tcp_flags: event.tcp_flags,
        len: event.len,
    }
}
