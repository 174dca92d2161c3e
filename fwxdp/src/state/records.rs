//! What a pin directory records of its attachments: the clsact filters fwxdp made over
//! netlink, one [`LinkRecord`] per role in the `links` map, and the mode in the config.

use std::io;

use aya::{
    maps::{Array, MapData, MapError},
    programs::{
        Link as _, ProgramError, SchedClassifier, TcAttachType,
        tc::{SchedClassifierLink, TcError},
    },
};
use fwxdp_common::{LINK_NONE, LINK_TC_NETLINK, LinkRecord};

use crate::netlink::filters;

use super::{
    maps::{MapSource, MapsError},
    names::{LinkPin, MapPin, ProgramPin},
    pins::{PinDir, PinError},
};

/// [`LinkRecord::direction`] of a clsact ingress filter.
pub const DIRECTION_INGRESS: u8 = 1;
/// [`LinkRecord::direction`] of a clsact egress filter.
pub const DIRECTION_EGRESS: u8 = 2;

impl PinDir {
    pub(super) fn records(&self) -> Result<Option<Array<MapData, LinkRecord>>, PinError> {
        if !self.map(MapPin::Links).exists() {
            // Pins of a build that had only BPF links.
            return Ok(None);
        }
        MapSource::Pinned(self.path())
            .open(MapPin::Links)
            .map(Some)
            .map_err(|source| PinError::Records {
                source: Box::new(source),
            })
    }

    pub(super) fn record(&self, role: LinkPin) -> Result<LinkRecord, PinError> {
        let Some(records) = self.records()? else {
            return Ok(LinkRecord::default());
        };
        records
            .get(&role.index(), 0)
            .map_err(|e| records_error("read", e))
    }

    pub(super) fn set_record(&self, role: LinkPin, record: &LinkRecord) -> Result<(), PinError> {
        let Some(mut records) = self.records()? else {
            if record.kind == LINK_NONE {
                return Ok(());
            }
            return Err(PinError::NoRecords {
                path: self.map(MapPin::Links),
            });
        };
        records
            .set(role.index(), record, 0)
            .map_err(|e| records_error("write", e))
    }

    /// Frees `role` without detaching what it recorded (another role records it too).
    pub fn forget_record(&self, role: LinkPin) -> Result<(), PinError> {
        self.set_record(role, &LinkRecord::default())
    }

    /// The clsact filters on interface `ifindex` that run this directory's TC programs but
    /// that no role records: what a kill between making a filter and recording it leaves.
    /// Program ids are the kernel's, one per load: a filter running one of these programs
    /// is this directory's and nobody else's. Each comes with the roles it may fill.
    pub(super) fn unrecorded_filters(
        &self,
        ifindex: u32,
    ) -> Result<Vec<(LinkRecord, &'static [LinkPin])>, PinError> {
        if self.records()?.is_none() {
            return Ok(Vec::new());
        }
        let kinds: [(ProgramPin, bool, &'static [LinkPin]); 2] = [
            (
                ProgramPin::TcIngress,
                false,
                &[LinkPin::Ingress, LinkPin::Bridge],
            ),
            (ProgramPin::TcEgress, true, &[LinkPin::Egress]),
        ];
        let mut unrecorded = Vec::new();
        for (program, egress, roles) in kinds {
            let Some(id) = SchedClassifier::from_pin(self.program(program))
                .ok()
                .and_then(|p| p.info().ok())
                .map(|info| info.id())
            else {
                continue;
            };
            let found =
                filters::bpf_filters(ifindex, egress).map_err(|source| PinError::ListFilters {
                    ifindex,
                    source: Box::new(source),
                })?;
            for filter in found.iter().filter(|f| f.program_id == id) {
                let record = LinkRecord {
                    kind: LINK_TC_NETLINK,
                    direction: if egress {
                        DIRECTION_EGRESS
                    } else {
                        DIRECTION_INGRESS
                    },
                    priority: filter.priority,
                    handle: filter.handle,
                    ifindex,
                    _pad: [0; 4],
                };
                let recorded = LinkPin::ALL.iter().any(|&role| {
                    self.record(role).is_ok_and(|r| {
                        r.kind == LINK_TC_NETLINK
                            && r.ifindex == ifindex
                            && r.direction == record.direction
                            && r.priority == record.priority
                            && r.handle == record.handle
                    })
                });
                if !recorded {
                    unrecorded.push((record, roles));
                }
            }
        }
        Ok(unrecorded)
    }

    /// Whether an unrecorded clsact filter runs this directory's ingress program on
    /// interface `ifindex`: it filters, whatever the records say.
    pub fn runs_unrecorded_ingress(&self, ifindex: u32) -> Result<bool, PinError> {
        Ok(self
            .unrecorded_filters(ifindex)?
            .iter()
            .any(|(record, _)| record.direction == DIRECTION_INGRESS))
    }

    /// The configuration pinned here, if it can be read.
    #[must_use]
    pub fn pinned_config(&self) -> Option<fwxdp_common::Config> {
        MapSource::Pinned(self.path())
            .open::<Array<MapData, fwxdp_common::Config>>(MapPin::Config)
            .ok()?
            .get(&0, 0)
            .ok()
    }

    pub(super) fn set_mode(&self, mode: crate::mode::AttachMode) -> Result<(), PinError> {
        let access = |action, e| PinError::Records {
            source: Box::new(MapsError::access(action, MapPin::Config, e)),
        };
        let mut config: Array<MapData, fwxdp_common::Config> = MapSource::Pinned(self.path())
            .open(MapPin::Config)
            .map_err(|source| PinError::Records {
                source: Box::new(source),
            })?;
        let mut value = config.get(&0, 0).map_err(|e| access("read", e))?;
        value.mode = mode.raw();
        config.set(0, value, 0).map_err(|e| access("write", e))
    }
}

fn records_error(action: &'static str, source: MapError) -> PinError {
    PinError::Records {
        source: Box::new(MapsError::access(action, MapPin::Links, source)),
    }
}

/// Removes the TC filter `record` names. A filter whose interface is gone, or was deleted
/// and made again (its index is another), went with it.
pub(super) fn remove_filter(record: &LinkRecord) -> Result<(), PinError> {
    let Some((name, link)) = filter_link(record) else {
        return Ok(());
    };
    let remove_error = |source| PinError::RemoveFilter {
        iface: name.clone(),
        priority: record.priority,
        handle: record.handle,
        source: Box::new(source),
    };
    let link = link.map_err(|e| remove_error(TcError::IoError(e)))?;
    match link.detach() {
        Ok(()) => Ok(()),
        // Removed behind fwxdp's back (the filter, or the whole clsact qdisc): gone is what
        // was wanted.
        Err(ProgramError::NetlinkError(e))
            if matches!(e.raw_os_error(), Some(libc::ENOENT | libc::EINVAL)) =>
        {
            Ok(())
        }
        Err(ProgramError::NetlinkError(e)) => Err(remove_error(TcError::NetlinkError(e))),
        Err(ProgramError::TcError(e)) => Err(remove_error(e)),
        Err(other) => Err(remove_error(TcError::IoError(io::Error::other(
            other.to_string(),
        )))),
    }
}

/// The interface of the TC filter `record` names, and aya's handle on the filter; `None`
/// when the interface is gone, or was deleted and made again (its index is another): the
/// filter went with it.
pub(super) fn filter_link(
    record: &LinkRecord,
) -> Option<(String, io::Result<SchedClassifierLink>)> {
    let name = nix::net::if_::if_indextoname(record.ifindex).ok()?;
    let name = name.to_string_lossy().into_owned();
    // aya looks the name up again: it must still be the interface recorded.
    if nix::net::if_::if_nametoindex(name.as_str()).ok() != Some(record.ifindex) {
        return None;
    }
    let direction = if record.direction == DIRECTION_EGRESS {
        TcAttachType::Egress
    } else {
        TcAttachType::Ingress
    };
    let link = SchedClassifierLink::attached(
        &name,
        direction,
        record.priority,
        record.handle.into(),
        None,
    );
    Some((name, link))
}
