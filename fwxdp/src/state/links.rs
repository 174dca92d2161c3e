//! The links of a pin directory. Each role ([`LinkPin`]) is held by a pinned BPF link (XDP
//! links, TCX), or by a TC filter made over netlink on the clsact qdisc, which the kernel
//! keeps by itself and the `links` map records so that exactly it can be removed again.

use std::{io, os::fd::AsFd as _, path::Path};

use aya::{
    maps::{Array, MapData, MapError},
    programs::{
        Link as _, ProgramError, SchedClassifier, TcAttachType,
        links::{FdLink, LinkError, PinnedLink},
        tc::{SchedClassifierLink, TcError},
    },
    sys::SyscallError,
};
use fwxdp_common::{LINK_NONE, LINK_TC_NETLINK, LinkRecord};

use crate::netlink::{filters, links};

use super::{
    maps::{MapSource, MapsError},
    names::{LinkPin, MapPin, ProgramPin},
    pins::{PinDir, PinError},
    sys,
};

/// [`LinkRecord::direction`] of a clsact ingress filter.
pub const DIRECTION_INGRESS: u8 = 1;
/// [`LinkRecord::direction`] of a clsact egress filter.
pub const DIRECTION_EGRESS: u8 = 2;

/// A program attached to an interface, to be kept in a role of a pin directory.
pub enum Attachment {
    /// A BPF link; pinned, it keeps its program attached after the process exits.
    Link(FdLink),
    /// A `cls_bpf` filter on clsact, which stays until it is removed; the record finds it.
    TcFilter(LinkRecord),
}

/// Where what holds a role is attached (see [`PinDir::hold`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hold {
    /// Nothing holds it, or what did was detached.
    Nothing,
    /// Attached to the interface asked about, in this network namespace.
    Here,
    /// Attached and in force, but to another device: interface index `ifindex` of its own
    /// namespace (renamed away here, or in another namespace).
    Elsewhere { ifindex: u32 },
}

/// How a role is attached, as `status` shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mechanism {
    /// A pinned BPF link (XDP link or TCX).
    BpfLink,
    /// A netlink `cls_bpf` filter on the clsact qdisc.
    TcFilter,
}

impl PinDir {
    fn records(&self) -> Result<Option<Array<MapData, LinkRecord>>, PinError> {
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

    fn record(&self, role: LinkPin) -> Result<LinkRecord, PinError> {
        let Some(records) = self.records()? else {
            return Ok(LinkRecord::default());
        };
        records
            .get(&role.index(), 0)
            .map_err(|e| records_error("read", e))
    }

    fn set_record(&self, role: LinkPin, record: &LinkRecord) -> Result<(), PinError> {
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

    /// Keeps `attachment` as `role`: pins a BPF link, records a TC filter.
    pub fn keep(&self, attachment: Attachment, role: LinkPin) -> Result<(), PinError> {
        match attachment {
            Attachment::Link(link) => {
                let path = self.link(role);
                link.pin(&path)
                    .map(drop)
                    .map_err(|source| PinError::PinLink {
                        path,
                        source: Box::new(source),
                    })
            }
            Attachment::TcFilter(record) => self.set_record(role, &record).inspect_err(|_| {
                // Unrecorded, nothing would ever find the filter again.
                let _: Result<(), PinError> = remove_filter(&record);
            }),
        }
    }

    /// Whether something holds `role`.
    #[must_use]
    pub fn holds(&self, role: LinkPin) -> bool {
        self.mechanism(role).is_some()
    }

    /// How `role` is held, if it is.
    #[must_use]
    pub fn mechanism(&self, role: LinkPin) -> Option<Mechanism> {
        if self.link(role).exists() {
            return Some(Mechanism::BpfLink);
        }
        (self.record(role).ok()?.kind == LINK_TC_NETLINK).then_some(Mechanism::TcFilter)
    }

    /// The mode that what holds `role` on interface `ifindex` puts in force, as the kernel
    /// has it: a TC filter or TCX link is tc; an XDP link native or generic as attached.
    /// `None` when nothing live holds it.
    #[must_use]
    pub fn live_mode(&self, role: LinkPin, ifindex: u32) -> Option<crate::mode::AttachMode> {
        use crate::mode::AttachMode;
        if self.hold(role, ifindex).ok()? != Hold::Here {
            return None;
        }
        match self.mechanism(role)? {
            Mechanism::TcFilter => Some(AttachMode::Tc),
            Mechanism::BpfLink => {
                let fd = sys::obj_get(&self.link(role)).ok()?;
                let target = sys::link_target(fd.as_fd()).ok()?;
                match target.kind {
                    sys::LinkKind::Tcx => Some(AttachMode::Tc),
                    sys::LinkKind::Xdp => {
                        match links::xdp_native(ifindex, target.program_id).ok()? {
                            Some(true) => Some(AttachMode::Native),
                            Some(false) => Some(AttachMode::Generic),
                            None => None,
                        }
                    }
                }
            }
        }
    }

    /// Whether `a` and `b` record the very same TC filter: a kill between the two writes of
    /// [`Self::move_role`] leaves that. Releasing either would remove the filter both name.
    #[must_use]
    pub fn same_filter(&self, a: LinkPin, b: LinkPin) -> bool {
        match (self.record(a), self.record(b)) {
            (Ok(ra), Ok(rb)) => ra.kind == LINK_TC_NETLINK && ra == rb,
            _ => false,
        }
    }

    /// Frees `role` without detaching what it recorded (another role records it too).
    pub fn forget_record(&self, role: LinkPin) -> Result<(), PinError> {
        self.set_record(role, &LinkRecord::default())
    }

    /// Moves what holds `from` to `to`, which must be free.
    pub fn move_role(&self, from: LinkPin, to: LinkPin) -> Result<(), PinError> {
        let source = self.link(from);
        if source.exists() {
            let dest = self.link(to);
            return std::fs::rename(&source, &dest).map_err(|e| PinError::io("rename", &source, e));
        }
        let record = self.record(from)?;
        self.set_record(to, &record)?;
        self.set_record(from, &LinkRecord::default())
    }

    /// Detaches what holds `role` (unless something else holds a BPF link too) and frees
    /// the role. A free role is not an error.
    pub fn release(&self, role: LinkPin) -> Result<(), PinError> {
        release_pin(&self.link(role))?;
        let record = self.record(role)?;
        if record.kind == LINK_TC_NETLINK {
            remove_filter(&record)?;
            self.set_record(role, &LinkRecord::default())?;
        }
        Ok(())
    }

    /// Where what holds `role` is attached, as the kernel has it, compared with the
    /// interface with index `ifindex` of this network namespace: a deleted interface takes
    /// its links and filters with it, a filter can be removed behind fwxdp's back, and a
    /// link of a device in another namespace (or renamed away) filters that device only.
    pub fn hold(&self, role: LinkPin, ifindex: u32) -> Result<Hold, PinError> {
        match self.mechanism(role) {
            None => Ok(Hold::Nothing),
            Some(Mechanism::BpfLink) => {
                let path = self.link(role);
                let info = |source| PinError::LinkInfo {
                    path: path.clone(),
                    source,
                };
                let fd = match sys::obj_get(&path) {
                    Ok(fd) => fd,
                    // Released meanwhile.
                    Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Hold::Nothing),
                    Err(e) => return Err(info(e)),
                };
                let target = sys::link_target(fd.as_fd()).map_err(info)?;
                if target.ifindex == 0 {
                    return Ok(Hold::Nothing);
                }
                let elsewhere = Hold::Elsewhere {
                    ifindex: target.ifindex,
                };
                if target.ifindex != ifindex {
                    return Ok(elsewhere);
                }
                // The index is the same number; is it this namespace's device?
                let here = match target.kind {
                    sys::LinkKind::Xdp => links::xdp_native(ifindex, target.program_id)
                        .map_err(|source| PinError::ListFilters {
                            ifindex,
                            source: Box::new(source),
                        })?
                        .is_some(),
                    sys::LinkKind::Tcx => {
                        let direction = if role == LinkPin::Egress {
                            TcAttachType::Egress
                        } else {
                            TcAttachType::Ingress
                        };
                        nix::net::if_::if_indextoname(ifindex)
                            .ok()
                            .and_then(|name| {
                                SchedClassifier::query_tcx(&name.to_string_lossy(), direction).ok()
                            })
                            .is_some_and(|(_, programs)| {
                                programs.iter().any(|p| p.id() == target.program_id)
                            })
                    }
                };
                Ok(if here { Hold::Here } else { elsewhere })
            }
            Some(Mechanism::TcFilter) => {
                let record = self.record(role)?;
                if record.ifindex != ifindex {
                    return Ok(Hold::Nothing);
                }
                let Some(program) = self.program_id(role) else {
                    return Ok(Hold::Nothing);
                };
                let filters = filters::bpf_filters(ifindex, record.direction == DIRECTION_EGRESS)
                    .map_err(|source| PinError::ListFilters {
                    ifindex,
                    source: Box::new(source),
                })?;
                let found = filters.iter().any(|f| {
                    f.priority == record.priority
                        && f.handle == record.handle
                        && f.program_id == program
                });
                Ok(if found { Hold::Here } else { Hold::Nothing })
            }
        }
    }

    /// The clsact filters on interface `ifindex` that run this directory's TC programs but
    /// that no role records: what a kill between making a filter and recording it leaves.
    /// Program ids are the kernel's, one per load: a filter running one of these programs
    /// is this directory's and nobody else's. Each comes with the roles it may fill.
    fn unrecorded_filters(
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

    /// Records, or removes, the [unrecorded filters](Self::unrecorded_filters) on this
    /// directory's interface: each goes into a free role of its kind (so an ingress filter,
    /// which filters, is kept and found again), or is removed when none is free.
    pub fn adopt_unrecorded_filters(&self) -> Result<(), PinError> {
        let Some(config) = self.pinned_config() else {
            // Nothing to go by: leave it for `detach`, which fails closed.
            return Ok(());
        };
        for (record, roles) in self.unrecorded_filters(config.ifindex)? {
            match roles.iter().find(|&&role| !self.holds(role)) {
                Some(&role) => {
                    self.set_record(role, &record)?;
                    // Killed before it could say its mode: the filter says it is tc.
                    if role == LinkPin::Ingress && config.mode == 0 {
                        self.set_mode(crate::mode::AttachMode::Tc)?;
                    }
                }
                None => remove_filter(&record)?,
            }
        }
        Ok(())
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

    fn set_mode(&self, mode: crate::mode::AttachMode) -> Result<(), PinError> {
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

    /// The kernel's id of the program that `role` runs: the truth about what filters.
    #[must_use]
    pub fn program_id(&self, role: LinkPin) -> Option<u32> {
        match self.mechanism(role)? {
            Mechanism::BpfLink => PinnedLink::from_pin(self.link(role))
                .ok()
                .and_then(|pinned| FdLink::from(pinned).info().ok())
                .map(|info| info.program_id()),
            // A filter runs the pinned program it was made with.
            Mechanism::TcFilter => {
                let program = if role == LinkPin::Egress {
                    ProgramPin::TcEgress
                } else {
                    ProgramPin::TcIngress
                };
                SchedClassifier::from_pin(self.program(program))
                    .ok()
                    .and_then(|p| p.info().ok())
                    .map(|info| info.id())
            }
        }
    }
}

fn records_error(action: &'static str, source: MapError) -> PinError {
    PinError::Records {
        source: Box::new(MapsError::access(action, MapPin::Links, source)),
    }
}

/// Unpins the link at `path` and drops it, which detaches its program unless something else
/// holds the link. A missing pin is not an error.
fn release_pin(path: &Path) -> Result<(), PinError> {
    match PinnedLink::from_pin(path) {
        // Dropping the last reference to the link detaches its program.
        Ok(pinned) => {
            drop(pinned.unpin().map_err(|source| PinError::ReleaseLink {
                path: path.to_owned(),
                source,
            })?);
            Ok(())
        }
        Err(LinkError::SyscallError(SyscallError { io_error, .. }))
            if io_error.kind() == io::ErrorKind::NotFound =>
        {
            Ok(())
        }
        Err(source) => Err(PinError::OpenLink {
            path: path.to_owned(),
            source: Box::new(source),
        }),
    }
}

/// Removes the TC filter `record` names. A filter whose interface is gone, or was deleted
/// and made again (its index is another), went with it.
fn remove_filter(record: &LinkRecord) -> Result<(), PinError> {
    let Ok(name) = nix::net::if_::if_indextoname(record.ifindex) else {
        return Ok(());
    };
    let name = name.to_string_lossy().into_owned();
    let direction = if record.direction == DIRECTION_EGRESS {
        TcAttachType::Egress
    } else {
        TcAttachType::Ingress
    };
    let remove_error = |source| PinError::RemoveFilter {
        iface: name.clone(),
        priority: record.priority,
        handle: record.handle,
        source: Box::new(source),
    };
    // aya looks the name up again: it must still be the interface recorded.
    if nix::net::if_::if_nametoindex(name.as_str()).ok() != Some(record.ifindex) {
        return Ok(());
    }
    let link = SchedClassifierLink::attached(
        &name,
        direction,
        record.priority,
        record.handle.into(),
        None,
    )
    .map_err(|e| remove_error(TcError::IoError(e)))?;
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
