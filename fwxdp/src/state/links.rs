//! The links of a pin directory. Each role ([`LinkPin`]) is held by a pinned BPF link (XDP
//! links, TCX), or by a TC filter made over netlink on the clsact qdisc, which the kernel
//! keeps by itself and the `links` map records so that exactly it can be removed again.

use std::{io, os::fd::AsFd as _, path::Path};

use aya::{
    programs::{
        SchedClassifier, TcAttachType,
        links::{FdLink, LinkError, PinnedLink},
    },
    sys::SyscallError,
};
use fwxdp_common::{LINK_TC_NETLINK, LinkRecord};

use crate::netlink::{filters, links};

use super::{
    names::{LinkPin, ProgramPin},
    pins::{PinDir, PinError},
    records::{DIRECTION_EGRESS, remove_filter},
    sys,
};

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
